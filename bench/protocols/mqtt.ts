// Copyright mb authors. MIT license.
// MQTT 3.1.1 for the load generator (mosquitto, Aedes): CONNECT with a clean
// session and keepalive 0, SUBSCRIBE and PUBLISH at QoS 0, pre-encoded;
// PUBLISH packets counted from the fixed header and remaining length.

import { bytesOf, concat } from "./_ascii.ts";
import type { Command, Protocol, WireCounter } from "./protocol.ts";

const CONNECT = 1;
const CONNACK = 2;
const PUBLISH = 3;
const SUBACK = 9;
const PINGRESP = 13;

/** Longest fixed header: one type byte and four remaining-length bytes. */
const MAX_HEAD_BYTES = 5;

/**
 * Counts MQTT packets from the broker: PUBLISH as a delivery; CONNACK and
 * SUBACK as replies (a refused CONNACK or a failed SUBACK, when the packet
 * arrives whole, as an error).
 */
export class MqttCounter implements WireCounter {
  delivered = 0;
  replies = 0;
  pingsDue = 0;
  errors = 0;
  firstError = "";
  /** Body bytes of the current packet still to skip. */
  #skip = 0;
  #type = 0;
  /** A fixed header that a read cut off. */
  #head = new Uint8Array(MAX_HEAD_BYTES);
  #headLength = 0;

  feed(buf: Uint8Array, start: number, end: number): void {
    let i = start;
    let skip = this.#skip;
    let delivered = 0;
    while (i < end) {
      if (skip > 0) {
        const available = end - i;
        if (skip > available) {
          skip -= available;
          break;
        }
        i += skip;
        skip = 0;
        if (this.#type === PUBLISH) delivered++;
        else this.#complete(this.#type, buf, i, i);
        continue;
      }
      let type: number;
      let length: number;
      if (this.#headLength === 0 && end - i >= MAX_HEAD_BYTES) {
        type = buf[i] >> 4;
        let b = buf[i + 1];
        length = b & 0x7f;
        i += 2;
        if (b & 0x80) {
          b = buf[i++];
          length |= (b & 0x7f) << 7;
          if (b & 0x80) {
            b = buf[i++];
            length |= (b & 0x7f) << 14;
            if (b & 0x80) length |= (buf[i++] & 0x7f) << 21;
          }
        }
      } else {
        const head = this.#head;
        let complete = false;
        while (i < end && !complete) {
          const b = buf[i++];
          head[this.#headLength++] = b;
          complete = this.#headLength >= 2 && ((b & 0x80) === 0 || this.#headLength === 5);
        }
        if (!complete) break;
        type = head[0] >> 4;
        length = 0;
        for (let k = 1, shift = 0; k < this.#headLength; k++, shift += 7) {
          length |= (head[k] & 0x7f) << shift;
        }
        this.#headLength = 0;
      }
      this.#type = type;
      if (length === 0) this.#complete(type, buf, i, i);
      else if (type !== PUBLISH && end - i >= length) {
        this.#complete(type, buf, i, i + length);
        i += length;
      } else skip = length;
    }
    this.#skip = skip;
    this.delivered += delivered;
  }

  #complete(type: number, buf: Uint8Array, bodyStart: number, bodyEnd: number): void {
    switch (type) {
      case PUBLISH:
        this.delivered++;
        return;
      case CONNACK:
        this.replies++;
        if (bodyEnd - bodyStart >= 2 && buf[bodyStart + 1] !== 0) {
          this.#error(`CONNACK refused with return code ${buf[bodyStart + 1]}`);
        }
        return;
      case SUBACK:
        this.replies++;
        for (let k = bodyStart + 2; k < bodyEnd; k++) {
          if (buf[k] === 0x80) this.#error("SUBACK: subscription refused");
        }
        return;
      case PINGRESP:
        return;
      default:
        this.#error(`unexpected MQTT packet type ${type}`);
    }
  }

  #error(text: string): void {
    this.errors++;
    if (this.firstError === "") this.firstError = text;
  }
}

/** Encodes an MQTT remaining length (1 to 4 bytes). */
function remainingLength(length: number): number[] {
  const out: number[] = [];
  do {
    let b = length & 0x7f;
    length >>>= 7;
    if (length > 0) b |= 0x80;
    out.push(b);
  } while (length > 0);
  return out;
}

/** An MQTT UTF-8 string: u16 length and bytes. */
function mqttString(text: string): Uint8Array {
  const bytes = bytesOf(text);
  return concat([new Uint8Array([bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

/** A whole packet from its first byte and its variable header plus payload. */
function packet(first: number, body: Uint8Array): Uint8Array {
  return concat([new Uint8Array([first, ...remainingLength(body.length)]), body]);
}

/** MQTT 3.1.1: `/` separated topics, `#` for the rest. */
export const MQTT_PROTOCOL: Protocol = {
  name: "mqtt",
  topic: (levels) => levels.join("/"),
  wildcard: (prefix) => [...prefix, "#"].join("/"),
  handshake(clientId: string): Command {
    const body = concat([
      mqttString("MQTT"),
      new Uint8Array([4, 0x02, 0, 0]), // level 4, clean session, keepalive 0 (off)
      mqttString(clientId),
    ]);
    return { bytes: packet(CONNECT << 4, body), replies: 1 };
  },
  subscribe(exact: readonly string[], wildcards: readonly string[]): Command {
    const filters = [...exact, ...wildcards];
    const packets = filters.map((filter, index) => {
      const id = (index % 0xffff) + 1;
      const body = concat([
        new Uint8Array([id >> 8, id & 0xff]),
        mqttString(filter),
        new Uint8Array([0]),
      ]);
      return packet(0x82, body); // SUBSCRIBE, reserved flags 0b0010
    });
    return { bytes: concat(packets), replies: filters.length };
  },
  publishes(topics: readonly string[], payload: Uint8Array, count: number): Uint8Array {
    const encoded = topics.map((topic) =>
      packet(PUBLISH << 4, concat([mqttString(topic), payload]))
    );
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) parts.push(encoded[i % encoded.length]);
    return concat(parts);
  },
  repliesPerPublish: 0,
  canConfirm: false,
  pong: undefined,
  newCounter: () => new MqttCounter(),
};
