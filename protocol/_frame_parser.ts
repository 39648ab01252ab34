// Copyright mb authors. MIT license.
// This module is browser compatible.

import { decodeFrame, isKnownFrameType } from "./decode.ts";
import { MbError } from "./errors.ts";
import type { Frame } from "./frames.ts";

/** First buffer size for a frame split across chunks. */
const SPLIT_FRAME_START_BYTES = 65536;

/** Receives each decoded frame: a stream controller, or an array. */
export type FrameSink = { enqueue(frame: Frame): void } | Frame[];

/**
 * The synchronous state machine behind `FrameDecoder` and
 * `FrameChunkDecoder`: frames whole in a chunk are decoded as views; a frame
 * split across chunks is gathered into one buffer of exactly its size.
 */
export class FrameParser {
  #max: number;
  /** Up to four bytes of a length field split across chunks. */
  #head = new Uint8Array(4);
  #headFilled = 0;
  /** The frame being gathered across chunks: type byte then body. */
  #frame: Uint8Array | undefined;
  /** Declared length of the frame being gathered. */
  #frameLength = 0;
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
        emit(sink, decodeFrame(type, chunk.subarray(i + 5, i + 4 + length)));
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
      const want = this.#frame === undefined ? 4 : 4 + this.#frameLength;
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
    // Up to 64 KiB at once; a larger frame's buffer grows as its bytes
    // arrive, so a declared length alone cannot make the parser reserve
    // maxFrameBytes (a cheap attack before the handshake).
    this.#frame = new Uint8Array(Math.min(length, SPLIT_FRAME_START_BYTES));
    this.#frameLength = length;
    this.#frameFilled = 0;
  }

  /** Copies bytes into the pending frame; emits it when complete. */
  #fill(chunk: Uint8Array, i: number, sink: FrameSink): number {
    let frame = this.#frame!;
    const length = this.#frameLength;
    const filled = this.#frameFilled;
    const take = Math.min(length - filled, chunk.length - i);
    if (filled + take > frame.length) {
      const grown = new Uint8Array(Math.min(length, Math.max(2 * frame.length, filled + take)));
      grown.set(frame.subarray(0, filled));
      frame = this.#frame = grown;
    }
    frame.set(chunk.subarray(i, i + take), filled);
    if (filled === 0 && take > 0 && !isKnownFrameType(frame[0])) {
      this.#frame = undefined;
      throw unknownType(frame[0]);
    }
    this.#frameFilled = filled + take;
    if (this.#frameFilled === length) {
      this.#frame = undefined;
      emit(sink, decodeFrame(frame[0], frame.subarray(1, length)));
    }
    return i + take;
  }
}

function emit(sink: FrameSink, frame: Frame): void {
  if (Array.isArray(sink)) sink.push(frame);
  else sink.enqueue(frame);
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
