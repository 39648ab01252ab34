// Copyright mb authors. MIT license.
// Redis pub/sub over RESP2 for the load generator: PUBLISH, SUBSCRIBE and
// PSUBSCRIBE as pre-encoded RESP arrays; "message" and "pmessage" pushes
// counted by walking the RESP framing (bulk strings skipped by length).

import { bytesOf, concat, LineCarry, parseDecimal, textOf } from "./_ascii.ts";
import type { Command, Protocol, WireCounter } from "./protocol.ts";

const LF = 0x0a;
const CR = 0x0d;

/** Byte length of the first element of the push arrays we expect: it names the kind. */
const MESSAGE = 7; // "message"
const PMESSAGE = 8; // "pmessage"

/**
 * Counts RESP2 values from Redis: a `message` or `pmessage` push as a
 * delivery; any other top-level value (the `subscribe` confirmations, the
 * integer reply to PUBLISH, `+PONG`) as a reply; `-ERR` as an error. Arrays
 * are flat in pub/sub, so one level of nesting is all it tracks; the kind of
 * an array is told by the length of its first bulk string.
 */
export class RedisCounter implements WireCounter {
  delivered = 0;
  replies = 0;
  pingsDue = 0;
  errors = 0;
  firstError = "";
  /** Bulk bytes plus CRLF still to skip. */
  #skip = 0;
  /** Elements left in the current top-level array; 0 outside arrays. */
  #remaining = 0;
  /** Length of the current array's first bulk string; -1 before it. */
  #kind = -1;
  #carry = new LineCarry();

  feed(buf: Uint8Array, start: number, end: number): void {
    const view = end === buf.length ? buf : buf.subarray(0, end);
    let i = start;
    while (i < end) {
      if (this.#skip > 0) {
        const available = end - i;
        if (this.#skip > available) {
          this.#skip -= available;
          break;
        }
        i += this.#skip;
        this.#skip = 0;
        this.#elementDone();
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
        this.#line(carry.bytes, 0, carry.length - 1);
        carry.length = 0;
      } else {
        this.#line(buf, i, newline);
      }
      i = newline + 1;
    }
  }

  #line(bytes: Uint8Array, start: number, newline: number): void {
    const end = newline > start && bytes[newline - 1] === CR ? newline - 1 : newline;
    const value = parseDecimal(bytes, start + 1, end);
    switch (bytes[start]) {
      case 0x2a: // *count
        if (this.#remaining > 0) {
          this.#error(`nested array: ${textOf(bytes, start, end)}`);
        } else if (value <= 0) {
          this.replies++;
        } else {
          this.#remaining = value;
          this.#kind = -1;
        }
        return;
      case 0x24: // $length
        if (this.#remaining > 0 && this.#kind === -1) this.#kind = value;
        if (value < 0) this.#elementDone();
        else this.#skip = value + 2;
        return;
      case 0x3a: // :integer
      case 0x2b: // +simple
        this.#elementDone();
        return;
      case 0x2d: // -error
        this.#error(textOf(bytes, start, end));
        if (this.#remaining > 0) this.#elementDone();
        return;
      default:
        this.#error(`unexpected RESP line: ${textOf(bytes, start, end)}`);
    }
  }

  #elementDone(): void {
    if (this.#remaining === 0) {
      this.replies++;
      return;
    }
    if (--this.#remaining > 0) return;
    if (this.#kind === MESSAGE || this.#kind === PMESSAGE) this.delivered++;
    else this.replies++;
  }

  #error(text: string): void {
    this.errors++;
    if (this.firstError === "") this.firstError = text;
  }
}

/** A RESP array of bulk strings. */
function respCommand(args: readonly (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [bytesOf(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? bytesOf(arg) : arg;
    parts.push(bytesOf(`$${bytes.length}\r\n`), bytes, bytesOf("\r\n"));
  }
  return concat(parts);
}

/** Redis pub/sub: `:` separated channels, `prefix:*` patterns. */
export const REDIS_PROTOCOL: Protocol = {
  name: "redis",
  topic: (levels) => levels.join(":"),
  wildcard: (prefix) => `${prefix.join(":")}:*`,
  handshake(): Command {
    return { bytes: respCommand(["PING"]), replies: 1 };
  },
  subscribe(exact: readonly string[], wildcards: readonly string[]): Command {
    const commands: Uint8Array[] = [];
    if (exact.length > 0) commands.push(respCommand(["SUBSCRIBE", ...exact]));
    if (wildcards.length > 0) commands.push(respCommand(["PSUBSCRIBE", ...wildcards]));
    // One confirmation per channel or pattern.
    return { bytes: concat(commands), replies: exact.length + wildcards.length };
  },
  publishes(topics: readonly string[], payload: Uint8Array, count: number): Uint8Array {
    const encoded = topics.map((topic) => respCommand(["PUBLISH", topic, payload]));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) parts.push(encoded[i % encoded.length]);
    return concat(parts);
  },
  repliesPerPublish: 1,
  canConfirm: false,
  pong: undefined,
  newCounter: () => new RedisCounter(),
};
