// Copyright mb authors. MIT license.
// This module is browser compatible.

import {
  DELIVER_HEADER_BYTES,
  encodeDeliverInto,
  encodedLength,
  encodeInto,
  encodeQueueDeliverInto,
  encodeStreamDeliverInto,
  QUEUE_DELIVER_HEADER_BYTES,
  STREAM_DELIVER_HEADER_BYTES,
} from "./encode.ts";
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
 * over as a view; later frames go into the rest of the buffer or a new one,
 * so bytes once taken are never written again (hand the view to `write()`,
 * never its `.buffer`).
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
  /** Start of the bytes not taken yet; everything before it was handed out. */
  #start = 0;
  /** End of the batched bytes. */
  #end = 0;

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
    return this.#end - this.#start;
  }

  /**
   * Encodes a frame at the end of the batch.
   *
   * @param frame The frame.
   */
  append(frame: Frame): void {
    const size = encodedLength(frame);
    const out = this.#room(size);
    this.#end = encodeInto(frame, out, this.#end);
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
    this.#end = encodeDeliverInto(out, this.#end, sid, message);
  }

  /**
   * Appends a stream deliver frame around a stored message section.
   *
   * @param sid The reader's subscription id.
   * @param offset The record's offset in the stream.
   * @param timestamp When it was stored.
   * @param message The message section.
   */
  appendStreamDeliver(sid: number, offset: number, timestamp: number, message: Uint8Array): void {
    const out = this.#room(STREAM_DELIVER_HEADER_BYTES + message.length);
    this.#end = encodeStreamDeliverInto(out, this.#end, sid, offset, timestamp, message);
  }

  /**
   * Appends a queue deliver frame around a stored message section.
   *
   * @param sid The consumer's subscription id.
   * @param messageId The message's id in its queue.
   * @param deliveryCount Deliveries so far, this one included.
   * @param timestamp When it was stored.
   * @param message The message section.
   */
  appendQueueDeliver(
    sid: number,
    messageId: number,
    deliveryCount: number,
    timestamp: number,
    message: Uint8Array,
  ): void {
    const out = this.#room(QUEUE_DELIVER_HEADER_BYTES + message.length);
    this.#end = encodeQueueDeliverInto(
      out,
      this.#end,
      sid,
      messageId,
      deliveryCount,
      timestamp,
      message,
    );
  }

  /**
   * Appends bytes that already hold whole frames.
   *
   * @param bytes Encoded frames.
   */
  appendBytes(bytes: Uint8Array): void {
    const out = this.#room(bytes.length);
    out.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /**
   * Takes the batched bytes and empties the batch. Later frames go after
   * them in the same buffer (or a new one), never over them.
   *
   * @returns A view of the batched frames, owned by the caller from now on.
   */
  take(): Uint8Array {
    if (this.#buffer === undefined) return new Uint8Array(0);
    const bytes = this.#buffer.subarray(this.#start, this.#end);
    this.#start = this.#end;
    return bytes;
  }

  /** Drops the batched bytes. */
  clear(): void {
    this.#buffer = undefined;
    this.#start = 0;
    this.#end = 0;
  }

  #room(size: number): Uint8Array {
    const buffer = this.#buffer;
    if (buffer !== undefined && this.#end + size <= buffer.length) return buffer;
    // A new buffer; the pending bytes (not yet taken) move over, the taken
    // ones stay with whoever holds them.
    const pending = this.#end - this.#start;
    const grown = new Uint8Array(Math.max(this.#initial, 2 * (pending + size)));
    if (buffer !== undefined && pending > 0) grown.set(buffer.subarray(this.#start, this.#end));
    this.#buffer = grown;
    this.#start = 0;
    this.#end = pending;
    return grown;
  }
}
