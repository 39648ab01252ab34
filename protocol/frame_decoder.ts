// Copyright mb authors. MIT license.
// This module is browser compatible.

import { decodeFrame, isKnownFrameType } from "./decode.ts";
import { MbError } from "./errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, type Frame } from "./frames.ts";

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest frame accepted, as the value of its length field (type byte and
   * body). A larger frame errors the stream as soon as its length is read,
   * before any of its body is buffered.
   *
   * @default {DEFAULT_MAX_FRAME_BYTES} (1 MiB of payload plus room for topic and headers)
   */
  maxFrameBytes?: number;
}

/**
 * Turns a byte stream into frames, whatever its chunking: one byte at a time,
 * a frame split anywhere, or many frames in one chunk. Whole frames in a
 * chunk are decoded as views without copying; a frame split across chunks is
 * gathered into one buffer of exactly its size, so the decoder never holds
 * more than one frame's bytes. A frame over the limit, an unknown type or a
 * malformed body errors the stream with an {@linkcode MbError}
 * (`FRAME_TOO_LARGE`, `FRAME_UNKNOWN`, `FRAME_MALFORMED`); so does a stream
 * that ends inside a frame.
 *
 * @example Frames split at an awkward offset
 * ```ts
 * import { encodeFrame, FrameDecoder, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const a = encodeFrame({ type: FrameType.Ping });
 * const b = encodeFrame({ type: FrameType.Goodbye, reason: "done" });
 * const bytes = new Uint8Array([...a, ...b]);
 * const frames = await Array.fromAsync(
 *   ReadableStream.from([bytes.subarray(0, 3), bytes.subarray(3, 7), bytes.subarray(7)])
 *     .pipeThrough(new FrameDecoder({ maxFrameBytes: 1024 })),
 * );
 * assert.deepEqual(frames, [
 *   { type: FrameType.Ping },
 *   { type: FrameType.Goodbye, reason: "done" },
 * ]);
 * ```
 *
 * @example Frames from a socket
 * ```ts ignore
 * import { FrameDecoder } from "./mod.ts";
 *
 * const conn = await Deno.connect({ port: 4150 });
 * for await (const frame of conn.readable.pipeThrough(new FrameDecoder())) {
 *   console.log(frame.type);
 * }
 * ```
 */
export class FrameDecoder extends TransformStream<Uint8Array, Frame> {
  /**
   * Creates a decoder.
   *
   * @param options The size limit.
   */
  constructor(options: FrameDecoderOptions = {}) {
    const parser = new FrameParser(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    super({
      transform(chunk, controller) {
        parser.push(chunk, controller);
      },
      flush() {
        parser.end();
      },
    });
  }
}

interface FrameSink {
  enqueue(frame: Frame): void;
}

/** The synchronous state machine behind {@linkcode FrameDecoder}. */
class FrameParser {
  #max: number;
  /** Up to four bytes of a length field split across chunks. */
  #head = new Uint8Array(4);
  #headFilled = 0;
  /** The frame being gathered across chunks: type byte then body. */
  #frame: Uint8Array | undefined;
  #frameFilled = 0;

  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes;
  }

  push(chunk: Uint8Array, sink: FrameSink): void {
    const n = chunk.length;
    let i = 0;
    // Finish what the previous chunk began.
    if (this.#headFilled > 0) {
      while (this.#headFilled < 4 && i < n) this.#head[this.#headFilled++] = chunk[i++];
      if (this.#headFilled < 4) return;
      this.#headFilled = 0;
      this.#startFrame(this.#readLength(this.#head, 0));
    }
    if (this.#frame !== undefined) {
      i = this.#fill(chunk, i, sink);
      if (this.#frame !== undefined) return;
    }
    while (i < n) {
      if (n - i < 4) {
        while (i < n) this.#head[this.#headFilled++] = chunk[i++];
        return;
      }
      const length = this.#readLength(chunk, i);
      if (n - i - 4 >= length) {
        const type = chunk[i + 4];
        if (!isKnownFrameType(type)) throw unknownType(type);
        sink.enqueue(decodeFrame(type, chunk.subarray(i + 5, i + 4 + length)));
        i += 4 + length;
        continue;
      }
      this.#startFrame(length);
      i = this.#fill(chunk, i + 4, sink);
    }
  }

  end(): void {
    if (this.#headFilled > 0 || this.#frame !== undefined) {
      const have = this.#frame === undefined ? this.#headFilled : 4 + this.#frameFilled;
      const want = this.#frame === undefined ? 4 : 4 + this.#frame.length;
      this.#frame = undefined;
      this.#headFilled = 0;
      throw new MbError(
        "FRAME_MALFORMED",
        `Cannot decode frame: stream ended after ${have} of ${want} bytes`,
      );
    }
  }

  #readLength(bytes: Uint8Array, at: number): number {
    const length = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
      bytes[at + 3]) >>> 0;
    if (length > this.#max) throw tooLarge(length, this.#max);
    if (length === 0) {
      throw new MbError("FRAME_MALFORMED", "Cannot decode frame: declared length 0");
    }
    return length;
  }

  #startFrame(length: number): void {
    this.#frame = new Uint8Array(length);
    this.#frameFilled = 0;
  }

  /** Copies bytes into the pending frame; emits it when complete. */
  #fill(chunk: Uint8Array, i: number, sink: FrameSink): number {
    const frame = this.#frame!;
    const take = Math.min(frame.length - this.#frameFilled, chunk.length - i);
    frame.set(chunk.subarray(i, i + take), this.#frameFilled);
    if (this.#frameFilled === 0 && take > 0 && !isKnownFrameType(frame[0])) {
      this.#frame = undefined;
      throw unknownType(frame[0]);
    }
    this.#frameFilled += take;
    if (this.#frameFilled === frame.length) {
      this.#frame = undefined;
      sink.enqueue(decodeFrame(frame[0], frame.subarray(1)));
    }
    return i + take;
  }
}

function tooLarge(length: number, max: number): MbError {
  return new MbError(
    "FRAME_TOO_LARGE",
    `Cannot decode frame: declared length ${length} exceeds maxFrameBytes ${max}`,
  );
}

function unknownType(type: number): MbError {
  return new MbError("FRAME_UNKNOWN", `Cannot decode frame: unknown type ${type}`);
}
