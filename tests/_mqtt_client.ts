// Copyright mb authors. MIT license.
// A raw MQTT 3.1.1 client for tests: sends any packet (or any bytes) and
// reads what the broker answers, packet by packet, through protocol/'s codec.

import { MqttDecoder } from "../protocol/mqtt_decoder.ts";
import { encodeMqttPacket } from "../protocol/mqtt_encode.ts";
import {
  type MqttConnack,
  type MqttPacket,
  MqttPacketType,
  type MqttPublish,
} from "../protocol/mqtt_packets.ts";
import { deadline } from "./_helpers.ts";

/** One raw MQTT connection to a broker. */
export class RawMqtt implements AsyncDisposable {
  #conn: Deno.Conn;
  #packets: MqttPacket[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;
  /** Resolves when the broker closed the connection (or it failed). */
  readonly closed: Promise<void>;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.closed = this.#read();
  }

  /** Opens a TCP connection to `port` on 127.0.0.1 (TLS when given the CA to trust). */
  static async open(port: number, ca?: string): Promise<RawMqtt> {
    return new RawMqtt(
      ca === undefined
        ? await Deno.connect({ hostname: "127.0.0.1", port })
        : await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] }),
    );
  }

  /** Opens a connection and completes CONNECT; returns the client and its CONNACK. */
  static async connect(
    port: number,
    clientId: string,
    options: {
      cleanSession?: boolean;
      keepalive?: number;
      will?: MqttPublishLike;
      password?: string;
      ca?: string;
    } = {},
  ): Promise<{ client: RawMqtt; connack: MqttConnack }> {
    const client = await RawMqtt.open(port, options.ca);
    client.send({
      type: MqttPacketType.Connect,
      protocolName: "MQTT",
      protocolLevel: 4,
      cleanSession: options.cleanSession ?? true,
      keepalive: options.keepalive ?? 0,
      clientId,
      will: options.will === undefined ? undefined : {
        topic: options.will.topic,
        payload: new TextEncoder().encode(options.will.payload),
        qos: options.will.qos ?? 0,
        retain: options.will.retain ?? false,
      },
      ...(options.password === undefined
        ? {}
        : { username: "user", password: new TextEncoder().encode(options.password) }),
    });
    const connack = await client.next(MqttPacketType.Connack) as MqttConnack;
    return { client, connack };
  }

  /** Sends a packet. */
  send(packet: MqttPacket): void {
    this.write(encodeMqttPacket(packet));
  }

  /** Sends raw bytes (for malformed input). */
  write(bytes: Uint8Array): void {
    this.#conn.write(bytes).catch(() => {});
  }

  /** Publishes a UTF-8 payload. */
  publish(topic: string, payload: string, qos: 0 | 1 | 2 = 0, packetId = 0, retain = false): void {
    this.send({
      type: MqttPacketType.Publish,
      topic,
      payload: new TextEncoder().encode(payload),
      qos,
      retain,
      dup: false,
      packetId: qos === 0 ? 0 : packetId,
    });
  }

  /** Subscribes and waits for the SUBACK's return codes. */
  async subscribe(filters: [string, 0 | 1 | 2][], packetId = 1): Promise<number[]> {
    this.send({
      type: MqttPacketType.Subscribe,
      packetId,
      subscriptions: filters.map(([filter, qos]) => ({ filter, qos })),
    });
    const suback = await this.next(MqttPacketType.Suback);
    if (suback.type !== MqttPacketType.Suback || suback.packetId !== packetId) {
      throw new Error(`Expected SUBACK ${packetId}, got ${JSON.stringify(suback)}`);
    }
    return suback.returnCodes;
  }

  /** The next packet (of `type`, when given: others before it are an error), within `ms`. */
  async next(type?: number, ms = 3000): Promise<MqttPacket> {
    const packet = await deadline(this.#take(), ms, `MQTT packet ${type ?? "any"}`);
    if (type !== undefined && packet.type !== type) {
      throw new Error(`Expected MQTT packet type ${type}, got ${JSON.stringify(packet)}`);
    }
    return packet;
  }

  /** The next PUBLISH, within `ms`. */
  async nextPublish(ms = 3000): Promise<MqttPublish & { text: string }> {
    const packet = await this.next(MqttPacketType.Publish, ms) as MqttPublish;
    return { ...packet, text: new TextDecoder().decode(packet.payload) };
  }

  /** Resolves `true` when nothing arrives within `ms`. */
  async quiet(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#packets.length === 0;
  }

  /** Closes the socket without DISCONNECT. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #take(): Promise<MqttPacket> {
    while (this.#packets.length === 0) {
      if (this.#ended) throw new Error("The broker closed the MQTT connection");
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.#packets.shift()!;
  }

  async #read(): Promise<void> {
    try {
      for await (const batch of this.#conn.readable.pipeThrough(new MqttDecoder())) {
        for (const packet of batch) {
          if (packet.type === MqttPacketType.Publish) {
            this.#packets.push({ ...packet, payload: packet.payload.slice() });
          } else this.#packets.push(packet);
        }
        this.#wake();
      }
    } catch {
      // Reset by the broker.
    } finally {
      this.#ended = true;
      this.#wake();
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A will or publish in test terms. */
export interface MqttPublishLike {
  topic: string;
  payload: string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
}
