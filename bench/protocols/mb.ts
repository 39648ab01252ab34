// Copyright mb authors. MIT license.
// mb's binary protocol for the load generator: frames pre-encoded with
// protocol/encode.ts, replies counted by walking the u32 length prefixes.

import { encodedLength, encodeFrame, encodeInto } from "../../protocol/encode.ts";
import { FrameType, PROTOCOL_VERSION } from "../../protocol/frames.ts";
import { concat, textOf } from "./_ascii.ts";
import type { Command, Protocol, PublishBatchOptions, WireCounter } from "./protocol.ts";

/** Length prefix plus type byte. */
const HEAD_BYTES = 5;

/**
 * Counts mb frames: Deliver as {@linkcode WireCounter.delivered}; Info and
 * Ok as replies; Ping as a ping to answer; Error as an error. Only the 5
 * header bytes of a frame are read; bodies are skipped by length.
 */
export class MbCounter implements WireCounter {
  delivered = 0;
  replies = 0;
  pingsDue = 0;
  errors = 0;
  firstError = "";
  /** Body bytes of the current frame still to skip. */
  #skip = 0;
  /** Type of the frame being skipped. */
  #type = 0;
  /** A header that a read cut off. */
  #head = new Uint8Array(HEAD_BYTES);
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
        if (this.#type === FrameType.Deliver) delivered++;
        else this.#complete(this.#type, buf, i, i);
        continue;
      }
      let length: number;
      let type: number;
      if (this.#headLength === 0 && end - i >= HEAD_BYTES) {
        length = buf[i] * 0x1000000 + ((buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]);
        type = buf[i + 4];
        i += HEAD_BYTES;
      } else {
        const head = this.#head;
        while (this.#headLength < HEAD_BYTES && i < end) head[this.#headLength++] = buf[i++];
        if (this.#headLength < HEAD_BYTES) break;
        this.#headLength = 0;
        length = head[0] * 0x1000000 + ((head[1] << 16) | (head[2] << 8) | head[3]);
        type = head[4];
      }
      skip = length - 1;
      this.#type = type;
      if (skip === 0) this.#complete(type, buf, i, i);
      else if (type === FrameType.Error && end - i >= skip) {
        // Whole error frame in this chunk: keep its code and message.
        this.#complete(type, buf, i, i + skip);
        i += skip;
        skip = 0;
      }
    }
    this.#skip = skip;
    this.delivered += delivered;
  }

  #complete(type: number, buf: Uint8Array, bodyStart: number, bodyEnd: number): void {
    switch (type) {
      case FrameType.Deliver:
        this.delivered++;
        return;
      case FrameType.Info:
      case FrameType.Ok:
        this.replies++;
        return;
      case FrameType.Ping:
        this.pingsDue++;
        return;
      case FrameType.Pong:
        return;
      case FrameType.Error:
        this.errors++;
        if (this.firstError === "") {
          // Body: u32 request id, str code, str message.
          this.firstError = errorText(buf, bodyStart, bodyEnd);
        }
        return;
      default:
        this.errors++;
        if (this.firstError === "") this.firstError = `unexpected frame type ${type}`;
    }
  }
}

/** Reads an Error body (u32 request id, str code, str message) as "CODE: message". */
function errorText(buf: Uint8Array, start: number, end: number): string {
  if (end - start < 6) return "Error frame (split across reads)";
  const codeEnd = start + 6 + ((buf[start + 4] << 8) | buf[start + 5]);
  if (codeEnd + 2 > end) return "Error frame (truncated)";
  const messageStart = codeEnd + 2;
  const messageEnd = messageStart + ((buf[codeEnd] << 8) | buf[codeEnd + 1]);
  return `${textOf(buf, start + 6, codeEnd)}: ${textOf(buf, messageStart, messageEnd)}`;
}

/** mb's binary protocol: `/` separated topics, `#` for the rest. */
export const MB_PROTOCOL: Protocol = {
  name: "mb",
  topic: (levels) => levels.join("/"),
  wildcard: (prefix) => [...prefix, "#"].join("/"),
  handshake(clientId: string): Command {
    return {
      bytes: encodeFrame({
        type: FrameType.Hello,
        version: PROTOCOL_VERSION,
        hello: { name: clientId, lang: "mb-bench" },
      }),
      replies: 1,
    };
  },
  subscribe(exact: readonly string[], wildcards: readonly string[]): Command {
    const patterns = [...exact, ...wildcards];
    const frames = patterns.map((pattern, index) =>
      encodeFrame({
        type: FrameType.Subscribe,
        requestId: index + 1,
        sid: index + 1,
        pattern,
        queue: "",
      })
    );
    return { bytes: concat(frames), replies: patterns.length };
  },
  publishes(
    topics: readonly string[],
    payload: Uint8Array,
    count: number,
    options?: PublishBatchOptions,
  ): Uint8Array {
    const confirm = options?.confirm === true;
    const frame = (index: number) => ({
      type: FrameType.Publish,
      requestId: confirm ? index + 1 : 0,
      topic: topics[index % topics.length],
      replyTo: "",
      headers: undefined,
      payload,
    } as const);
    let size = 0;
    for (let i = 0; i < count; i++) size += encodedLength(frame(i));
    const out = new Uint8Array(size);
    let at = 0;
    for (let i = 0; i < count; i++) at = encodeInto(frame(i), out, at);
    return out;
  },
  repliesPerPublish: 0,
  canConfirm: true,
  pong: encodeFrame({ type: FrameType.Pong }),
  newCounter: () => new MbCounter(),
};
