// Copyright mb authors. MIT license.
// This module is browser compatible.

import { DELIVER_HEADER_BYTES, encodeDeliverInto, encodedLength, encodeInto } from "./encode.ts";
import type { Frame } from "./frames.ts";

/** Options for {@linkcode FrameBatch}. */
export interface FrameBatchOptions {
  /**
   * Size of each new batch buffer; a larger frame gets a buffer of its size.
   *
   * @default {65536}
   */
  initialBytes?: number;
}

/**
 * Frames encoded back to back into one buffer, so a connection writes many
 * frames with one `write()`. {@linkcode FrameBatch.take} hands the bytes
 * over and starts a new buffer: a buffer given away is never written again.
 *
 * @example Batch two frames, write once
 * ```ts
 * import { FrameBatch, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const batch = new FrameBatch();
 * batch.append({ type: FrameType.Ping });
 * batch.append({ type: FrameType.Pong });
 * assert.equal(batch.byteLength, 10);
 * const bytes = batch.take();
 * assert.equal(bytes.length, 10);
 * assert.equal(batch.byteLength, 0);
 * ```
 */
export class FrameBatch {
  #initial: number;
  #buffer: Uint8Array | undefined;
  #length = 0;

  /**
   * Creates an empty batch.
   *
   * @param options Buffer sizing.
   */
  constructor(options: FrameBatchOptions = {}) {
    this.#initial = options.initialBytes ?? 65536;
  }

  /** Bytes waiting in the batch. */
  get byteLength(): number {
    return this.#length;
  }

  /**
   * Encodes a frame at the end of the batch.
   *
   * @param frame The frame.
   */
  append(frame: Frame): void {
    const size = encodedLength(frame);
    const out = this.#room(size);
    this.#length = encodeInto(frame, out, this.#length);
  }

  /**
   * Appends a deliver frame around an already encoded message section (see
   * `encodeDeliverInto`).
   *
   * @param sid The subscription id.
   * @param message The message section of a publish frame.
   */
  appendDeliver(sid: number, message: Uint8Array): void {
    const out = this.#room(DELIVER_HEADER_BYTES + message.length);
    this.#length = encodeDeliverInto(out, this.#length, sid, message);
  }

  /**
   * Appends bytes that already hold whole frames.
   *
   * @param bytes Encoded frames.
   */
  appendBytes(bytes: Uint8Array): void {
    const out = this.#room(bytes.length);
    out.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /**
   * Takes the batched bytes and empties the batch.
   *
   * @returns A view of the batched frames, owned by the caller from now on.
   */
  take(): Uint8Array {
    const bytes = this.#buffer === undefined
      ? new Uint8Array(0)
      : this.#buffer.subarray(0, this.#length);
    this.#buffer = undefined;
    this.#length = 0;
    return bytes;
  }

  /** Drops the batched bytes. */
  clear(): void {
    this.#buffer = undefined;
    this.#length = 0;
  }

  #room(size: number): Uint8Array {
    const buffer = this.#buffer;
    const need = this.#length + size;
    if (buffer !== undefined && need <= buffer.length) return buffer;
    const grown = new Uint8Array(Math.max(this.#initial, need, (buffer?.length ?? 0) * 2));
    if (buffer !== undefined) grown.set(buffer.subarray(0, this.#length));
    this.#buffer = grown;
    return grown;
  }
}
