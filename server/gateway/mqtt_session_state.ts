// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { encodeMqttPacket, encodeMqttPublish } from "../../protocol/mqtt_encode.ts";
import { MqttPacketType, type MqttQos } from "../../protocol/mqtt_packets.ts";
import { parseMqttSharedFilter } from "../../protocol/mqtt_topic.ts";
import type { Route, Router, Subscriber } from "../router.ts";

const logger = getLogger(["mb", "mqtt"]);

/**
 * Where the payload of an encoded message section starts (after topic,
 * reply-to and headers, each behind a u16 length); the topic's UTF-8 bytes
 * are `section.subarray(2, topicEnd)`. MQTT sends only topic and payload.
 *
 * @param section The message section.
 * @returns The end of the topic and the start of the payload.
 */
export function sectionBounds(section: Uint8Array): { topicEnd: number; payloadStart: number } {
  const topicEnd = 2 + ((section[0] << 8) | section[1]);
  let at = topicEnd;
  at += 2 + ((section[at] << 8) | section[at + 1]); // reply-to
  at += 2 + ((section[at] << 8) | section[at + 1]); // headers
  return { topicEnd, payloadStart: at };
}

/** Where a session's packets go while its client is connected. */
export interface MqttOutlet {
  /** Queues a packet that must not be dropped (acks, QoS 1 and 2 publishes). */
  write(packet: Uint8Array): void;
  /** Queues a QoS 0 delivery of a message section; may drop it (slow consumer). */
  deliverQos0(message: Uint8Array): void;
}

/** A QoS 1 or 2 message on its way to the client. */
export interface MqttOutbound {
  /** The topic, UTF-8. */
  topic: Uint8Array;
  /** The payload. */
  payload: Uint8Array;
  /** Its QoS toward this client. */
  qos: 1 | 2;
  /** Sent because of a new subscription to a retained topic. */
  retain: boolean;
}

interface Flight {
  message: MqttOutbound;
  /** PUBREC received: waiting for PUBCOMP. */
  released: boolean;
}

interface Subscription {
  qos: MqttQos;
  route: Route;
}

/** Limits of a {@linkcode MqttSessionState}. */
export interface MqttSessionLimits {
  /** QoS 1 and 2 messages sent and not yet acknowledged, at most. */
  maxInflight: number;
  /** QoS 1 and 2 messages waiting (client away or window full), at most; more are dropped. */
  maxQueued: number;
}

/** The form a persistent session is saved in. */
export interface SavedMqttSession {
  clientId: string;
  subscriptions: [string, MqttQos][];
  inflight: [number, string, string, 1 | 2, boolean, boolean][];
  queued: [string, string, 1 | 2, boolean][];
  incoming: number[];
  nextPacketId: number;
}

/**
 * The state MQTT keeps for a client id, which outlives its connections when
 * the client asked for a persistent session (clean session 0): its
 * subscriptions (routes in the router that stay while the client is away),
 * QoS 1 and 2 messages in flight or waiting, and the ids of QoS 2 publishes
 * received and not yet released.
 *
 * Messages waiting are bounded by `maxQueued`; QoS 0 messages are not kept
 * for an absent client (as in Mosquitto's default).
 *
 * @example
 * ```ts
 * import { MqttSessionState } from "./mqtt_session_state.ts";
 * import { Router } from "../router.ts";
 * import { encodeMessageSection } from "../../protocol/encode.ts";
 * import assert from "node:assert/strict";
 *
 * const router = new Router();
 * const state = new MqttSessionState("sensor-1", router, { maxInflight: 10, maxQueued: 100 }, () => {});
 * assert.equal(state.subscribe("sensors/#", 1), 1);
 * router.publish("sensors/a", encodeMessageSection("sensors/a", "", undefined, new Uint8Array([1])), 1);
 * assert.equal(state.queuedCount, 1);
 * const sent: Uint8Array[] = [];
 * state.attach({ write: (p) => void sent.push(p), deliverQos0() {} }, false);
 * assert.equal(sent.length, 1);
 * assert.equal(state.inflightCount, 1);
 * ```
 */
export class MqttSessionState implements Subscriber {
  /** The client id. */
  readonly clientId: string;
  #router: Router;
  #limits: MqttSessionLimits;
  #changed: () => void;
  #subscriptions = new Map<string, Subscription>();
  #granted = new Map<number, MqttQos>();
  #nextSid = 1;
  #outlet: MqttOutlet | undefined;
  #inflight = new Map<number, Flight>();
  #queued: MqttOutbound[] = [];
  #queueHead = 0;
  #incoming = new Set<number>();
  #nextPacketId = 1;
  #dropped = 0;

  /**
   * Creates an empty session.
   *
   * @param clientId The client id.
   * @param router The routing core its subscriptions go into.
   * @param limits In-flight and waiting bounds.
   * @param changed Called when something worth saving changed.
   */
  constructor(
    clientId: string,
    router: Router,
    limits: MqttSessionLimits,
    changed: () => void,
  ) {
    this.clientId = clientId;
    this.#router = router;
    this.#limits = limits;
    this.#changed = changed;
  }

  /** QoS 1 and 2 messages waiting to be sent. */
  get queuedCount(): number {
    return this.#queued.length - this.#queueHead;
  }

  /** QoS 1 and 2 messages sent and not acknowledged. */
  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** Messages dropped because too many were waiting. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Subscriptions held. */
  get subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  /** Whether a client is connected to this session. */
  get attached(): boolean {
    return this.#outlet !== undefined;
  }

  /**
   * Adds or replaces a subscription. A `$share/GROUP/FILTER` filter becomes
   * a member of mb queue group `GROUP` on `FILTER`.
   *
   * @param filter A filter already checked by `mqttFilterProblem`.
   * @param qos The granted QoS.
   * @returns The granted QoS.
   */
  subscribe(filter: string, qos: MqttQos): MqttQos {
    const existing = this.#subscriptions.get(filter);
    if (existing !== undefined) {
      existing.qos = qos;
      this.#granted.set(existing.route.sid, qos);
    } else {
      const shared = parseMqttSharedFilter(filter);
      const route: Route = {
        sid: this.#nextSid++,
        pattern: shared?.filter ?? filter,
        queue: shared?.group ?? "",
        subscriber: this,
      };
      this.#subscriptions.set(filter, { qos, route });
      this.#granted.set(route.sid, qos);
      this.#router.add(route);
    }
    this.#changed();
    return qos;
  }

  /**
   * Removes a subscription.
   *
   * @param filter The filter as subscribed.
   * @returns `true` when it existed.
   */
  unsubscribe(filter: string): boolean {
    const subscription = this.#subscriptions.get(filter);
    if (subscription === undefined) return false;
    this.#subscriptions.delete(filter);
    this.#granted.delete(subscription.route.sid);
    this.#router.remove(subscription.route);
    this.#changed();
    return true;
  }

  /** Takes a routed message (see `Subscriber.deliver`). */
  deliver(sid: number, message: Uint8Array, qos: number): void {
    const granted = this.#granted.get(sid);
    if (granted === undefined) return;
    const effective = qos < granted ? qos : granted;
    if (effective === 0) {
      this.#outlet?.deliverQos0(message);
      return;
    }
    const { topicEnd, payloadStart } = sectionBounds(message);
    this.send({
      topic: message.slice(2, topicEnd),
      payload: message.slice(payloadStart),
      qos: effective as 1 | 2,
      retain: false,
    });
  }

  /**
   * Sends (or queues) a QoS 1 or 2 message.
   *
   * @param message The message; kept as is.
   */
  send(message: MqttOutbound): void {
    if (
      this.#outlet !== undefined && this.queuedCount === 0 &&
      this.#inflight.size < this.#limits.maxInflight
    ) {
      this.#transmit(message);
    } else if (this.queuedCount >= this.#limits.maxQueued) {
      if (this.#dropped++ === 0) {
        logger.warn("MQTT client {clientId}: more than {max} messages waiting, dropping", {
          clientId: this.clientId,
          max: this.#limits.maxQueued,
        });
      }
      return;
    } else {
      this.#queued.push(message);
    }
    this.#changed();
  }

  /**
   * A client connected to this session: resends what was in flight (PUBLISH
   * with DUP, or PUBREL), then what waited.
   *
   * @param outlet Where packets go.
   * @param resend Whether the in-flight messages go again (a resumed session).
   */
  attach(outlet: MqttOutlet, resend: boolean): void {
    this.#outlet = outlet;
    if (resend) {
      for (const [packetId, flight] of this.#inflight) {
        const { message } = flight;
        outlet.write(
          flight.released
            ? encodeMqttPacket({ type: MqttPacketType.Pubrel, packetId })
            : encodeMqttPublish(message.topic, message.payload, {
              qos: message.qos,
              retain: message.retain,
              dup: true,
              packetId,
            }),
        );
      }
    }
    this.#pump();
  }

  /** The client went away; the state stays for its return. */
  detach(): void {
    this.#outlet = undefined;
  }

  /** Removes every subscription from the router; the state is done. */
  discard(): void {
    this.#outlet = undefined;
    for (const { route } of this.#subscriptions.values()) this.#router.remove(route);
    this.#subscriptions.clear();
    this.#granted.clear();
    this.#inflight.clear();
    this.#queued = [];
    this.#queueHead = 0;
    this.#incoming.clear();
  }

  /**
   * A QoS 2 publish arrived: tells whether it is new (to be routed) or a
   * resend of one already routed and not yet released.
   *
   * @param packetId Its packet id.
   * @returns `true` the first time.
   */
  receiveQos2(packetId: number): boolean {
    if (this.#incoming.has(packetId)) return false;
    this.#incoming.add(packetId);
    this.#changed();
    return true;
  }

  /**
   * PUBREL arrived: the QoS 2 publish is released.
   *
   * @param packetId Its packet id.
   */
  release(packetId: number): void {
    if (this.#incoming.delete(packetId)) this.#changed();
  }

  /**
   * PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived: the message is done.
   *
   * @param packetId Its packet id.
   * @param qos 1 for PUBACK, 2 for PUBCOMP.
   */
  complete(packetId: number, qos: 1 | 2): void {
    const flight = this.#inflight.get(packetId);
    if (flight === undefined || flight.message.qos !== qos) return;
    this.#inflight.delete(packetId);
    this.#changed();
    this.#pump();
  }

  /**
   * PUBREC arrived: the QoS 2 message is received; answers PUBREL.
   *
   * @param packetId Its packet id.
   */
  received(packetId: number): void {
    const flight = this.#inflight.get(packetId);
    if (flight !== undefined && flight.message.qos === 2 && !flight.released) {
      flight.released = true;
      this.#changed();
    }
    this.#outlet?.write(encodeMqttPacket({ type: MqttPacketType.Pubrel, packetId }));
  }

  /** The session in its saved form. */
  save(): SavedMqttSession {
    const b64 = (bytes: Uint8Array) => bytes.toBase64();
    const text = new TextDecoder();
    return {
      clientId: this.clientId,
      subscriptions: [...this.#subscriptions].map(([filter, { qos }]) => [filter, qos]),
      inflight: [...this.#inflight].map(([id, { message, released }]) => [
        id,
        text.decode(message.topic),
        b64(message.payload),
        message.qos,
        message.retain,
        released,
      ]),
      queued: this.#queued.slice(this.#queueHead).map((message) => [
        text.decode(message.topic),
        b64(message.payload),
        message.qos,
        message.retain,
      ]),
      incoming: [...this.#incoming],
      nextPacketId: this.#nextPacketId,
    };
  }

  /**
   * Restores a saved session (its subscriptions go back into the router).
   *
   * @param saved What {@linkcode MqttSessionState.save} returned.
   */
  restore(saved: SavedMqttSession): void {
    const utf8 = new TextEncoder();
    for (const [filter, qos] of saved.subscriptions) this.subscribe(filter, qos);
    for (const [id, topic, payload, qos, retain, released] of saved.inflight) {
      this.#inflight.set(id, {
        message: {
          topic: utf8.encode(topic),
          payload: Uint8Array.fromBase64(payload),
          qos,
          retain,
        },
        released,
      });
    }
    for (const [topic, payload, qos, retain] of saved.queued) {
      this.#queued.push({
        topic: utf8.encode(topic),
        payload: Uint8Array.fromBase64(payload),
        qos,
        retain,
      });
    }
    for (const id of saved.incoming) this.#incoming.add(id);
    this.#nextPacketId = saved.nextPacketId;
  }

  #pump(): void {
    const outlet = this.#outlet;
    if (outlet === undefined) return;
    let sent = false;
    while (this.queuedCount > 0 && this.#inflight.size < this.#limits.maxInflight) {
      this.#transmit(this.#queued[this.#queueHead]);
      this.#queued[this.#queueHead++] = undefined!;
      sent = true;
    }
    if (this.#queueHead === this.#queued.length) {
      this.#queued = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queued.length) {
      this.#queued = this.#queued.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (sent) this.#changed();
  }

  #transmit(message: MqttOutbound): void {
    let packetId = this.#nextPacketId;
    while (this.#inflight.has(packetId)) packetId = packetId === 0xffff ? 1 : packetId + 1;
    this.#nextPacketId = packetId === 0xffff ? 1 : packetId + 1;
    this.#inflight.set(packetId, { message, released: false });
    this.#outlet!.write(
      encodeMqttPublish(message.topic, message.payload, {
        qos: message.qos,
        retain: message.retain,
        packetId,
      }),
    );
  }
}
