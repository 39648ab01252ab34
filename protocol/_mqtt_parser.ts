// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "./errors.ts";
import {
  MQTT_SUBACK_FAILURE,
  type MqttPacket,
  MqttPacketType,
  type MqttQos,
  type MqttSubscription,
} from "./mqtt_packets.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

function malformed(message: string): MbError {
  return new MbError("FRAME_MALFORMED", `MQTT ${message}`);
}

/** Reads the fields of one packet body. */
class Fields {
  at: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    readonly what: string,
  ) {
    this.at = start;
  }

  need(n: number): void {
    if (this.at + n > this.end) throw malformed(`${this.what}: a field runs past the packet`);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.at++];
  }

  u16(): number {
    this.need(2);
    const value = (this.bytes[this.at] << 8) | this.bytes[this.at + 1];
    this.at += 2;
    return value;
  }

  binary(): Uint8Array {
    const length = this.u16();
    this.need(length);
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  string(field: string): string {
    const bytes = this.binary();
    return decodeText(bytes, this.what, field);
  }

  packetId(): number {
    const id = this.u16();
    if (id === 0) throw malformed(`${this.what}: packet identifier 0`);
    return id;
  }

  done(): void {
    if (this.at !== this.end) {
      throw malformed(`${this.what}: ${this.end - this.at} unexpected bytes at the end`);
    }
  }
}

/** Decodes UTF-8 (ASCII without TextDecoder), refusing invalid UTF-8 and U+0000. */
function decodeText(bytes: Uint8Array, what: string, field: string): string {
  const n = bytes.length;
  let ascii = n <= 64;
  if (ascii) {
    for (let i = 0; i < n; i++) {
      const b = bytes[i];
      if (b >= 0x80 || b === 0) {
        ascii = false;
        break;
      }
    }
  }
  let text: string;
  if (ascii) {
    text = String.fromCharCode.apply(null, bytes as unknown as number[]);
  } else {
    try {
      text = utf8.decode(bytes);
    } catch {
      throw malformed(`${what}: invalid UTF-8 in the ${field}`);
    }
    if (text.includes("\0")) throw malformed(`${what}: U+0000 in the ${field}`);
  }
  return text;
}

const NAMES = [
  "",
  "CONNECT",
  "CONNACK",
  "PUBLISH",
  "PUBACK",
  "PUBREC",
  "PUBREL",
  "PUBCOMP",
  "SUBSCRIBE",
  "SUBACK",
  "UNSUBSCRIBE",
  "UNSUBACK",
  "PINGREQ",
  "PINGRESP",
  "DISCONNECT",
];

/** Decodes one whole packet: `bytes[start..end)` is its body, `first` its first byte. */
export function decodeMqttBody(
  first: number,
  bytes: Uint8Array,
  start: number,
  end: number,
): MqttPacket {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type === 0 || type === 15) throw malformed(`packet type ${type} is reserved`);
  const what = NAMES[type];
  if (type === MqttPacketType.Publish) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) throw malformed("PUBLISH: QoS 3");
    const dup = (flags & 8) !== 0;
    if (qos === 0 && dup) throw malformed("PUBLISH: DUP set at QoS 0");
    const f = new Fields(bytes, start, end, what);
    const topic = f.string("topic");
    if (topic.length === 0) throw malformed("PUBLISH: empty topic");
    if (topic.includes("+") || topic.includes("#")) {
      throw malformed(`PUBLISH: wildcard in topic ${JSON.stringify(topic)}`);
    }
    const packetId = qos === 0 ? 0 : f.packetId();
    return {
      type: MqttPacketType.Publish,
      topic,
      payload: bytes.subarray(f.at, end),
      qos: qos as MqttQos,
      retain: (flags & 1) !== 0,
      dup,
      packetId,
    };
  }
  const expectedFlags = type === MqttPacketType.Pubrel || type === MqttPacketType.Subscribe ||
      type === MqttPacketType.Unsubscribe
    ? 2
    : 0;
  if (flags !== expectedFlags) {
    throw malformed(`${what}: fixed-header flags ${flags}, expected ${expectedFlags}`);
  }
  const f = new Fields(bytes, start, end, what);
  switch (type) {
    case MqttPacketType.Connect: {
      const protocolName = f.string("protocol name");
      const protocolLevel = f.u8();
      const connectFlags = f.u8();
      const keepalive = f.u16();
      if (connectFlags & 1) throw malformed("CONNECT: reserved flag set");
      const clientId = f.string("client id");
      const willFlag = (connectFlags & 4) !== 0;
      const willQos = (connectFlags >> 3) & 3;
      const willRetain = (connectFlags & 0x20) !== 0;
      if (willQos === 3) throw malformed("CONNECT: will QoS 3");
      if (!willFlag && (willQos !== 0 || willRetain)) {
        throw malformed("CONNECT: will QoS or retain without the will flag");
      }
      const hasUser = (connectFlags & 0x80) !== 0;
      const hasPassword = (connectFlags & 0x40) !== 0;
      if (hasPassword && !hasUser) throw malformed("CONNECT: password without user name");
      let will;
      if (willFlag) {
        const topic = f.string("will topic");
        if (topic.length === 0 || topic.includes("+") || topic.includes("#")) {
          throw malformed(`CONNECT: invalid will topic ${JSON.stringify(topic)}`);
        }
        const payload = f.binary();
        will = { topic, payload, qos: willQos as MqttQos, retain: willRetain };
      }
      const username = hasUser ? f.string("user name") : undefined;
      const password = hasPassword ? f.binary() : undefined;
      f.done();
      return {
        type: MqttPacketType.Connect,
        protocolName,
        protocolLevel,
        cleanSession: (connectFlags & 2) !== 0,
        keepalive,
        clientId,
        ...(will === undefined ? {} : { will }),
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
      };
    }
    case MqttPacketType.Connack: {
      const ackFlags = f.u8();
      if (ackFlags & 0xfe) throw malformed("CONNACK: reserved flags set");
      const returnCode = f.u8();
      f.done();
      return { type: MqttPacketType.Connack, sessionPresent: ackFlags === 1, returnCode };
    }
    case MqttPacketType.Puback:
    case MqttPacketType.Pubrec:
    case MqttPacketType.Pubrel:
    case MqttPacketType.Pubcomp:
    case MqttPacketType.Unsuback: {
      const packetId = f.packetId();
      f.done();
      return { type, packetId };
    }
    case MqttPacketType.Subscribe: {
      const packetId = f.packetId();
      const subscriptions: MqttSubscription[] = [];
      while (f.at < end) {
        const filter = f.string("topic filter");
        const qos = f.u8();
        if (qos > 2) throw malformed(`SUBSCRIBE: requested QoS byte ${qos}`);
        subscriptions.push({ filter, qos: qos as MqttQos });
      }
      if (subscriptions.length === 0) throw malformed("SUBSCRIBE: no topic filter");
      return { type: MqttPacketType.Subscribe, packetId, subscriptions };
    }
    case MqttPacketType.Suback: {
      const packetId = f.packetId();
      const returnCodes: number[] = [];
      while (f.at < end) {
        const code = f.u8();
        if (code > 2 && code !== MQTT_SUBACK_FAILURE) {
          throw malformed(`SUBACK: return code ${code}`);
        }
        returnCodes.push(code);
      }
      return { type: MqttPacketType.Suback, packetId, returnCodes };
    }
    case MqttPacketType.Unsubscribe: {
      const packetId = f.packetId();
      const filters: string[] = [];
      while (f.at < end) filters.push(f.string("topic filter"));
      if (filters.length === 0) throw malformed("UNSUBSCRIBE: no topic filter");
      return { type: MqttPacketType.Unsubscribe, packetId, filters };
    }
    default:
      f.done();
      return {
        type: type as
          | typeof MqttPacketType.Pingreq
          | typeof MqttPacketType.Pingresp
          | typeof MqttPacketType.Disconnect,
      };
  }
}

/**
 * The synchronous state machine behind `MqttDecoder`: packets whole in a
 * chunk are decoded as views; a packet split across chunks is gathered into
 * one buffer of exactly its size.
 */
export class MqttParser {
  #max: number;
  /** Fixed header bytes of a packet split across chunks (type + up to 4 length bytes). */
  #head = new Uint8Array(5);
  #headFilled = 0;
  #packet: Uint8Array | undefined;
  #packetFilled = 0;
  #first = 0;

  constructor(maxPacketBytes: number) {
    this.#max = maxPacketBytes;
  }

  /** Whether a packet is partly received. */
  get partial(): boolean {
    return this.#headFilled > 0 || this.#packet !== undefined;
  }

  push(chunk: Uint8Array, out: MqttPacket[]): void {
    const n = chunk.length;
    let i = 0;
    // Finish a packet begun in an earlier chunk.
    if (this.#packet !== undefined) {
      const packet = this.#packet;
      const take = Math.min(packet.length - this.#packetFilled, n);
      packet.set(chunk.subarray(0, take), this.#packetFilled);
      this.#packetFilled += take;
      i = take;
      if (this.#packetFilled < packet.length) return;
      this.#packet = undefined;
      out.push(decodeMqttBody(this.#first, packet, 0, packet.length));
    }
    while (i < n) {
      let first: number;
      let length: number;
      let bodyStart: number;
      if (this.#headFilled > 0) {
        // A fixed header split across chunks.
        while (i < n) {
          const b = chunk[i++];
          this.#head[this.#headFilled++] = b;
          if (this.#headFilled >= 2 && (b & 0x80) === 0) break;
          if (this.#headFilled === 5) throw malformed("remaining length longer than 4 bytes");
        }
        const last = this.#head[this.#headFilled - 1];
        if (this.#headFilled < 2 || (last & 0x80) !== 0) return;
        first = this.#head[0];
        length = readLength(this.#head, 1, this.#headFilled);
        this.#headFilled = 0;
        bodyStart = i;
      } else {
        first = chunk[i];
        // Remaining length: 1 to 4 bytes.
        let j = i + 1;
        length = 0;
        let multiplier = 1;
        let complete = false;
        while (j < n) {
          const b = chunk[j++];
          length += (b & 0x7f) * multiplier;
          if ((b & 0x80) === 0) {
            complete = true;
            break;
          }
          multiplier *= 128;
          if (j - i - 1 === 4) throw malformed("remaining length longer than 4 bytes");
        }
        if (!complete) {
          this.#head.set(chunk.subarray(i, n));
          this.#headFilled = n - i;
          return;
        }
        bodyStart = j;
      }
      const headerBytes = lengthBytes(length) + 1;
      if (length + headerBytes > this.#max) {
        throw new MbError(
          "FRAME_TOO_LARGE",
          `MQTT packet of ${length + headerBytes} bytes: the limit is ${this.#max}`,
        );
      }
      const type = first >> 4;
      if (type === 0 || type === 15) throw malformed(`packet type ${type} is reserved`);
      if (bodyStart + length <= n) {
        out.push(decodeMqttBody(first, chunk, bodyStart, bodyStart + length));
        i = bodyStart + length;
        continue;
      }
      const packet = new Uint8Array(length);
      packet.set(chunk.subarray(bodyStart, n));
      this.#packet = packet;
      this.#packetFilled = n - bodyStart;
      this.#first = first;
      return;
    }
  }

  /** End of input: a partial packet is an error. */
  end(): void {
    if (this.partial) throw malformed("truncated packet at the end of the stream");
  }
}

function readLength(head: Uint8Array, from: number, to: number): number {
  let length = 0;
  let multiplier = 1;
  for (let k = from; k < to; k++) {
    length += (head[k] & 0x7f) * multiplier;
    multiplier *= 128;
  }
  return length;
}

function lengthBytes(length: number): number {
  return length < 128 ? 1 : length < 16384 ? 2 : length < 2097152 ? 3 : 4;
}
