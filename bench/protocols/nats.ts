// Copyright mb authors. MIT license.
// The NATS text protocol for the load generator: CONNECT, SUB, PUB lines
// pre-encoded; MSG counted by reading its header line and skipping the
// payload by its declared length.

import { bytesOf, concat, LineCarry, parseDecimal, textOf } from "./_ascii.ts";
import type { Command, Protocol, WireCounter } from "./protocol.ts";

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

/**
 * Counts NATS server lines: `MSG` as a delivery, `PONG` as a reply, `PING`
 * as a ping to answer, `-ERR` as an error; `INFO` and `+OK` are ignored.
 */
export class NatsCounter implements WireCounter {
  delivered = 0;
  replies = 0;
  pingsDue = 0;
  errors = 0;
  firstError = "";
  /** Payload plus CRLF bytes of the current MSG still to skip. */
  #skip = 0;
  #carry = new LineCarry();

  feed(buf: Uint8Array, start: number, end: number): void {
    // Bound indexOf to the bytes read; the buffer's tail holds stale data.
    const view = end === buf.length ? buf : buf.subarray(0, end);
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
        delivered++;
        continue;
      }
      const newline = view.indexOf(LF, i);
      if (newline < 0) {
        this.#carry.append(buf, i, end);
        break;
      }
      if (this.#carry.length > 0) {
        const carry = this.#carry;
        carry.append(buf, i, newline + 1);
        skip = this.#line(carry.bytes, 0, carry.length - 1);
        carry.length = 0;
      } else {
        skip = this.#line(buf, i, newline);
      }
      i = newline + 1;
    }
    this.#skip = skip;
    this.delivered += delivered;
  }

  /** Handles the line `bytes[start, newline)`; returns the bytes to skip after it. */
  #line(bytes: Uint8Array, start: number, newline: number): number {
    const end = newline > start && bytes[newline - 1] === CR ? newline - 1 : newline;
    switch (bytes[start]) {
      case 0x4d: { // MSG <subject> <sid> [reply-to] <#bytes>
        let k = end - 1;
        while (k > start && bytes[k] !== SPACE) k--;
        const size = parseDecimal(bytes, k + 1, end);
        if (Number.isNaN(size)) return this.#error(`bad MSG line: ${textOf(bytes, start, end)}`);
        return size + 2;
      }
      case 0x50: // PING or PONG
        if (bytes[start + 1] === 0x49) this.pingsDue++;
        else this.replies++;
        return 0;
      case 0x2b: // +OK
      case 0x49: // INFO
        return 0;
      case 0x2d: // -ERR
        return this.#error(textOf(bytes, start, end));
      default:
        return this.#error(`unexpected line: ${textOf(bytes, start, end)}`);
    }
  }

  #error(text: string): number {
    this.errors++;
    if (this.firstError === "") this.firstError = text;
    return 0;
  }
}

/** NATS: `.` separated subjects, `>` for the rest. */
export const NATS_PROTOCOL: Protocol = {
  name: "nats",
  topic: (levels) => levels.join("."),
  wildcard: (prefix) => [...prefix, ">"].join("."),
  handshake(clientId: string): Command {
    const connect = { verbose: false, pedantic: false, name: clientId };
    return { bytes: bytesOf(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`), replies: 1 };
  },
  subscribe(exact: readonly string[], wildcards: readonly string[]): Command {
    const lines = [...exact, ...wildcards].map((subject, index) =>
      `SUB ${subject} ${index + 1}\r\n`
    );
    return { bytes: bytesOf(`${lines.join("")}PING\r\n`), replies: 1 };
  },
  publishes(topics: readonly string[], payload: Uint8Array, count: number): Uint8Array {
    const heads = topics.map((topic) => bytesOf(`PUB ${topic} ${payload.length}\r\n`));
    const crlf = bytesOf("\r\n");
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) parts.push(heads[i % heads.length], payload, crlf);
    return concat(parts);
  },
  repliesPerPublish: 0,
  canConfirm: false,
  pong: bytesOf("PONG\r\n"),
  newCounter: () => new NatsCounter(),
};
