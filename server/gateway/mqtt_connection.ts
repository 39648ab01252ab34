// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { MbError } from "../../protocol/errors.ts";
import { FrameBatch } from "../../protocol/frame_batch.ts";
import { MAX_TOPIC_BYTES } from "../../protocol/frames.ts";
import { MqttDecoder } from "../../protocol/mqtt_decoder.ts";
import { encodeMqttPacket, encodeMqttPublish } from "../../protocol/mqtt_encode.ts";
import {
  MQTT_PROTOCOL_LEVEL,
  MQTT_SUBACK_FAILURE,
  type MqttConnect,
  MqttConnectReturnCode,
  type MqttPacket,
  MqttPacketType,
  type MqttPublish,
  type MqttQos,
  type MqttSubscribe,
  type MqttWill,
} from "../../protocol/mqtt_packets.ts";
import { mqttFilterProblem, parseMqttSharedFilter } from "../../protocol/mqtt_topic.ts";
import { PublishResult } from "../publish.ts";
import type { SessionConn } from "../session.ts";
import type { MqttGateway } from "./mqtt_gateway.ts";
import { type MqttOutlet, type MqttSessionState, sectionBounds } from "./mqtt_session_state.ts";

const logger = getLogger(["mb", "mqtt"]);

/** One PUBACK, PUBREC or PUBCOMP waiting for the store, or for the ones before it. */
interface PendingAck {
  packet: Uint8Array;
  ready: boolean;
}

/** The QoS 0 packet of the last message section delivered, shared by every subscriber. */
let lastSection: Uint8Array | undefined;
let lastQos0Packet: Uint8Array = new Uint8Array(0);

function qos0PacketOf(message: Uint8Array): Uint8Array {
  if (message === lastSection) return lastQos0Packet;
  const { topicEnd, payloadStart } = sectionBounds(message);
  lastQos0Packet = encodeMqttPublish(
    message.subarray(2, topicEnd),
    message.subarray(payloadStart),
  );
  lastSection = message;
  return lastQos0Packet;
}

/**
 * One MQTT 3.1.1 client connection (TCP, TLS or WebSocket): decodes
 * packets, performs CONNECT, turns PUBLISH into the broker's publish path
 * and SUBSCRIBE into routes of its {@linkcode MqttSessionState}, and writes
 * through a coalescing outbound batch (one write in flight at a time).
 * A protocol violation closes the connection, as the specification says,
 * and logs it with the client id.
 */
export class MqttConnection implements MqttOutlet {
  /** Id of this connection, unique in the broker. */
  readonly id: number;
  #conn: SessionConn;
  #gateway: MqttGateway;
  #label: string;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #batch = new FrameBatch();
  #writing = false;
  #scheduled = false;
  #inFlightBytes = 0;
  #flushWaiters: (() => void)[] = [];
  #state: MqttSessionState | undefined;
  #clientId = "";
  #will: MqttWill | undefined;
  #cleanSession = true;
  #acks: PendingAck[] = [];
  #closing = false;
  #closed = false;
  #keepaliveMs = 0;
  #lastRead = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #messagesIn = 0;
  #messagesOut = 0;
  #dropped = 0;
  #done: Promise<void>;

  /**
   * Starts serving a connection.
   *
   * @param id The connection id.
   * @param conn The connection's streams.
   * @param gateway The MQTT gateway it belongs to.
   * @param label A label for logs, such as the remote address.
   */
  constructor(id: number, conn: SessionConn, gateway: MqttGateway, label: string) {
    this.id = id;
    this.#conn = conn;
    this.#gateway = gateway;
    this.#label = label;
    this.#writer = conn.writable.getWriter();
    this.#writer.closed.catch(() => this.#close());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === undefined) {
        this.fail(`no CONNECT within ${gateway.options.connectTimeoutMs} ms`);
      }
    }, gateway.options.connectTimeoutMs);
    this.#done = this.#readLoop();
  }

  /** Resolves when the connection is closed and cleaned up. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** The client id, once connected. */
  get clientId(): string {
    return this.#clientId;
  }

  /** Counters: messages in and out, deliveries dropped, bytes waiting. */
  stats(): { messagesIn: number; messagesOut: number; dropped: number; pendingBytes: number } {
    return {
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      dropped: this.#dropped,
      pendingBytes: this.#pendingBytes(),
    };
  }

  /** Queues a packet; never dropped. */
  write(packet: Uint8Array): void {
    if (this.#closing) return;
    if (packet[0] >> 4 === MqttPacketType.Publish) this.#messagesOut++;
    this.#batch.appendBytes(packet);
    this.#schedule();
  }

  /** Queues a QoS 0 delivery; applies the slow-consumer policy when full. */
  deliverQos0(message: Uint8Array): void {
    if (this.#closing) return;
    const options = this.#gateway.options;
    if (this.#pendingBytes() + message.length > options.maxPendingBytes) {
      this.#dropped++;
      if (options.slowConsumer === "disconnect") {
        this.#batch.clear();
        this.fail(`slow consumer: more than ${options.maxPendingBytes} bytes waiting to be sent`);
      } else if (this.#dropped === 1) {
        logger.warn("MQTT client {clientId} ({label}) is a slow consumer: dropping messages", {
          clientId: this.#clientId,
          label: this.#label,
        });
      }
      return;
    }
    this.#messagesOut++;
    this.#batch.appendBytes(qos0PacketOf(message));
    this.#schedule();
  }

  /**
   * Closes the connection for a protocol violation (or a keepalive
   * timeout), publishing the will.
   *
   * @param reason What happened, for the log.
   */
  fail(reason: string): void {
    if (this.#closing) return;
    logger.info("Closing MQTT connection {id} ({label}, client {clientId}): {reason}", {
      id: this.id,
      label: this.#label,
      clientId: this.#clientId === "" ? "-" : this.#clientId,
      reason,
    });
    void this.#closeAfterFlush(false);
  }

  /**
   * Another connection took this client id over: closes this one (the will
   * is published, as for any unclean end) without touching the session.
   */
  takenOver(): void {
    if (this.#closing) return;
    logger.info("MQTT client {clientId} connected again: closing connection {id} ({label})", {
      clientId: this.#clientId,
      id: this.id,
      label: this.#label,
    });
    this.#state = undefined;
    void this.#closeAfterFlush(false);
  }

  /**
   * Flushes and closes for a broker shutdown; no will is published.
   *
   * @param timeoutMs How long to wait for the flush.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.#will = undefined;
    await this.#closeAfterFlush(true, timeoutMs);
    return this.#done;
  }

  async #readLoop(): Promise<void> {
    const options = this.#gateway.options;
    const packets = this.#conn.readable.pipeThrough(
      new MqttDecoder({ maxPacketBytes: options.maxPacketBytes }),
      { preventCancel: true },
    );
    try {
      for await (const batch of packets) {
        if (this.#closing) break;
        this.#lastRead = performance.now();
        for (let i = 0; i < batch.length && !this.#closing; i++) this.#handle(batch[i]);
        if (this.#pendingBytes() > options.maxPendingBytes) await this.#whenFlushed();
        const store = this.#gateway.store;
        if (store.backlogged) await store.whenStored();
      }
    } catch (error) {
      if (!this.#closing) {
        this.fail(error instanceof MbError ? `${error.code}: ${error.message}` : String(error));
      }
    } finally {
      if (!this.#closing) {
        if (this.#state !== undefined) {
          logger.debug("MQTT client {clientId} ({label}) went away without DISCONNECT", {
            clientId: this.#clientId,
            label: this.#label,
          });
        }
        void this.#closeAfterFlush(false);
      }
      await this.#closedPromise;
    }
  }

  #handle(packet: MqttPacket): void {
    if (this.#state === undefined) {
      if (packet.type !== MqttPacketType.Connect) {
        this.fail(`packet type ${packet.type} before CONNECT`);
        return;
      }
      this.#connect(packet);
      return;
    }
    switch (packet.type) {
      case MqttPacketType.Publish:
        this.#publish(packet);
        return;
      case MqttPacketType.Puback:
        this.#state.complete(packet.packetId, 1);
        return;
      case MqttPacketType.Pubrec:
        this.#state.received(packet.packetId);
        return;
      case MqttPacketType.Pubrel:
        this.#state.release(packet.packetId);
        this.#ack(encodeMqttPacket({ type: MqttPacketType.Pubcomp, packetId: packet.packetId }));
        return;
      case MqttPacketType.Pubcomp:
        this.#state.complete(packet.packetId, 2);
        return;
      case MqttPacketType.Subscribe:
        this.#subscribe(packet);
        return;
      case MqttPacketType.Unsubscribe:
        for (const filter of packet.filters) this.#state.unsubscribe(filter);
        this.#ack(encodeMqttPacket({ type: MqttPacketType.Unsuback, packetId: packet.packetId }));
        return;
      case MqttPacketType.Pingreq:
        this.write(PINGRESP);
        return;
      case MqttPacketType.Disconnect:
        this.#will = undefined;
        void this.#closeAfterFlush(true);
        return;
      case MqttPacketType.Connect:
        this.fail("a second CONNECT on one connection");
        return;
      default:
        this.fail(`packet type ${packet.type} is not sent by clients`);
    }
  }

  #connect(connect: MqttConnect): void {
    const gateway = this.#gateway;
    if (connect.protocolName !== "MQTT" && connect.protocolName !== "MQIsdp") {
      this.fail(`unknown protocol name ${JSON.stringify(connect.protocolName)}`);
      return;
    }
    if (connect.protocolLevel !== MQTT_PROTOCOL_LEVEL || connect.protocolName !== "MQTT") {
      this.#refuse(
        MqttConnectReturnCode.UnacceptableProtocolVersion,
        `protocol ${connect.protocolName} level ${connect.protocolLevel}: this broker speaks MQTT 3.1.1 (level 4)`,
      );
      return;
    }
    let clientId = connect.clientId;
    if (clientId === "") {
      if (!connect.cleanSession) {
        this.#refuse(
          MqttConnectReturnCode.IdentifierRejected,
          "an empty client id needs clean session",
        );
        return;
      }
      clientId = `mb-${crypto.randomUUID()}`;
    }
    this.#clientId = clientId;
    const token = gateway.options.token;
    if (token !== undefined) {
      const password = connect.password === undefined
        ? undefined
        : new TextDecoder().decode(connect.password);
      if (password !== token) {
        this.#refuse(
          password === undefined
            ? MqttConnectReturnCode.NotAuthorized
            : MqttConnectReturnCode.BadUsernameOrPassword,
          "wrong or missing password (the broker's token)",
        );
        return;
      }
    }
    if (connect.will !== undefined && !this.#willTopicAllowed(connect.will.topic)) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#will = connect.will;
    this.#cleanSession = connect.cleanSession;
    const { state, sessionPresent } = gateway.open(this, clientId, connect.cleanSession);
    this.#state = state;
    this.write(
      encodeMqttPacket({
        type: MqttPacketType.Connack,
        sessionPresent,
        returnCode: MqttConnectReturnCode.Accepted,
      }),
    );
    state.attach(this, sessionPresent);
    if (connect.keepalive > 0) {
      this.#keepaliveMs = connect.keepalive * 1500;
      this.#lastRead = performance.now();
      this.#armKeepalive(this.#keepaliveMs);
    }
    logger.debug("MQTT client {clientId} connected on {id} ({label}), session present {present}", {
      clientId,
      id: this.id,
      label: this.#label,
      present: sessionPresent,
    });
  }

  #willTopicAllowed(topic: string): boolean {
    const problem = this.#topicProblem(topic);
    if (problem === undefined) return true;
    this.fail(`will topic ${JSON.stringify(topic)}: ${problem}`);
    return false;
  }

  /** What the broker refuses in a topic MQTT allows, or `undefined`. */
  #topicProblem(topic: string): string | undefined {
    if (
      topic.length > MAX_TOPIC_BYTES / 3 && new TextEncoder().encode(topic).length > MAX_TOPIC_BYTES
    ) {
      return `longer than mb's limit of ${MAX_TOPIC_BYTES} bytes`;
    }
    return undefined;
  }

  #refuse(returnCode: number, reason: string): void {
    this.write(
      encodeMqttPacket({ type: MqttPacketType.Connack, sessionPresent: false, returnCode }),
    );
    this.fail(`CONNECT refused (${returnCode}): ${reason}`);
  }

  #armKeepalive(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closing) return;
      const idle = performance.now() - this.#lastRead;
      if (idle >= this.#keepaliveMs) {
        this.fail(`keepalive: nothing received for ${Math.round(idle)} ms`);
      } else this.#armKeepalive(this.#keepaliveMs - idle);
    }, delayMs);
  }

  #publish(packet: MqttPublish): void {
    const { topic, payload, qos, packetId } = packet;
    const problem = this.#topicProblem(topic);
    if (problem !== undefined) {
      this.fail(`PUBLISH to ${JSON.stringify(topic.slice(0, 64))}: ${problem}`);
      return;
    }
    if (payload.length > this.#gateway.options.maxPayloadBytes) {
      this.fail(
        `PUBLISH of ${payload.length} bytes: the limit is ${this.#gateway.options.maxPayloadBytes}`,
      );
      return;
    }
    if (qos === 2 && !this.#state!.receiveQos2(packetId)) {
      // A resend of a QoS 2 publish routed already: exactly once.
      this.#ack(encodeMqttPacket({ type: MqttPacketType.Pubrec, packetId }));
      return;
    }
    this.#messagesIn++;
    if (qos === 0) {
      this.#gateway.publish(topic, payload, 0, packet.retain);
      return;
    }
    const ack: PendingAck = {
      packet: encodeMqttPacket({
        type: qos === 1 ? MqttPacketType.Puback : MqttPacketType.Pubrec,
        packetId,
      }),
      ready: false,
    };
    const result = this.#gateway.publish(topic, payload, qos, packet.retain, (error) => {
      if (error !== undefined) {
        // Not stored: the client keeps the message and sends it again.
        this.fail(`PUBLISH to ${JSON.stringify(topic)} not stored: ${error.message}`);
        return;
      }
      ack.ready = true;
      this.#flushAcks();
    });
    if ((result & PublishResult.Captured) === 0) ack.ready = true;
    this.#acks.push(ack);
    this.#flushAcks();
  }

  /** Queues an ack behind the ones waiting for the store (acks go in order). */
  #ack(packet: Uint8Array): void {
    if (this.#acks.length === 0) this.write(packet);
    else this.#acks.push({ packet, ready: true });
  }

  #flushAcks(): void {
    const acks = this.#acks;
    let i = 0;
    while (i < acks.length && acks[i].ready) this.write(acks[i++].packet);
    if (i === acks.length) acks.length = 0;
    else if (i > 0) acks.splice(0, i);
  }

  #subscribe(packet: MqttSubscribe): void {
    const state = this.#state!;
    const codes: number[] = [];
    const granted: [string, MqttQos][] = [];
    for (const { filter, qos } of packet.subscriptions) {
      const problem = mqttFilterProblem(filter) ?? this.#topicProblem(filter);
      if (problem !== undefined) {
        logger.info("MQTT client {clientId}: filter {filter} refused: {problem}", {
          clientId: this.#clientId,
          filter,
          problem,
        });
        codes.push(MQTT_SUBACK_FAILURE);
        continue;
      }
      codes.push(state.subscribe(filter, qos));
      granted.push([filter, qos]);
    }
    this.#ack(
      encodeMqttPacket({
        type: MqttPacketType.Suback,
        packetId: packet.packetId,
        returnCodes: codes,
      }),
    );
    // Retained messages follow the SUBACK; shared subscriptions get none.
    for (const [filter, grantedQos] of granted) {
      if (parseMqttSharedFilter(filter) !== undefined) continue;
      for (const retained of this.#gateway.retained.match(filter)) {
        const message = retained.message;
        const { topicEnd, payloadStart } = sectionBounds(message);
        const qos = Math.min(retained.qos, grantedQos);
        const topic = message.subarray(2, topicEnd);
        const payload = message.subarray(payloadStart);
        if (qos === 0) this.write(encodeMqttPublish(topic, payload, { retain: true }));
        else state.send({ topic, payload, qos: qos as 1 | 2, retain: true });
      }
    }
  }

  #pendingBytes(): number {
    return this.#batch.byteLength + this.#inFlightBytes;
  }

  #schedule(): void {
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#batch.byteLength > 0 && !this.#closed) {
        const bytes = this.#batch.take();
        this.#inFlightBytes = bytes.length;
        await this.#writer.write(bytes);
        this.#inFlightBytes = 0;
      }
    } catch {
      this.#close();
    } finally {
      this.#writing = false;
      this.#inFlightBytes = 0;
      const waiters = this.#flushWaiters;
      this.#flushWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #whenFlushed(): Promise<void> {
    if (this.#closed || (!this.#writing && this.#batch.byteLength === 0)) {
      return Promise.resolve();
    }
    this.#schedule();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /**
   * Ends the connection: the session is detached (or discarded when it was
   * a clean one) and, unless the client said DISCONNECT, the will published.
   */
  async #closeAfterFlush(clean: boolean, timeoutMs = 2000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#end(clean);
    if (this.#writing || this.#scheduled || this.#batch.byteLength > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#flushWaiters.push(resolve)),
        new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
      ]);
      clearTimeout(timer);
    }
    this.#close();
  }

  #end(clean: boolean): void {
    const state = this.#state;
    this.#state = undefined;
    if (state !== undefined) this.#gateway.closed(this, state, this.#cleanSession);
    const will = this.#will;
    this.#will = undefined;
    if (will !== undefined && !clean) {
      this.#gateway.publish(will.topic, will.payload, will.qos, will.retain);
    }
  }

  #closedResolve!: () => void;
  #closedPromise = new Promise<void>((resolve) => this.#closedResolve = resolve);

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#closing) {
      this.#closing = true;
      clearTimeout(this.#timer);
      this.#end(false);
    }
    this.#batch.clear();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const wake of waiters) wake();
    this.#closedResolve();
  }
}

const PINGRESP = new Uint8Array([MqttPacketType.Pingresp << 4, 0]);
