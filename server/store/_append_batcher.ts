// Copyright mb authors. MIT license.

import { MbError } from "../../protocol/errors.ts";
import type { DurableLog } from "./durable_log.ts";

/**
 * Called once per stored message, in offset order: `error` is set when the
 * append failed (then `offset` is -1).
 */
export type StoredCallback = (error: MbError | undefined, offset: number) => void;

/** What an {@linkcode AppendBatcher} tells its owner after each stored batch. */
export type AppendedCallback = (first: number, bodies: Uint8Array[], timestamp: number) => void;

/**
 * Collects the messages given to a log during one tick and appends them
 * with one `append` call: the hot path copies each message and calls no
 * `await`; the log's own queue then coalesces batches into one write (and
 * one fsync under `"always"`). Batches are appended in order, one at a time,
 * so callbacks run in offset order.
 *
 * @example
 * ```ts
 * import { AppendBatcher } from "./_append_batcher.ts";
 * import { MemoryLog } from "./memory_log.ts";
 * import assert from "node:assert/strict";
 *
 * const log = new MemoryLog();
 * const offsets: number[] = [];
 * const batcher = new AppendBatcher(log, () => {});
 * batcher.add(new Uint8Array([1]), (_error, offset) => offsets.push(offset));
 * batcher.add(new Uint8Array([2]), (_error, offset) => offsets.push(offset));
 * await batcher.whenIdle();
 * assert.deepEqual(offsets, [0, 1]);
 * ```
 */
export class AppendBatcher {
  #log: DurableLog;
  #onAppended: AppendedCallback;
  #bodies: Uint8Array[] = [];
  #callbacks: (StoredCallback | undefined)[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #running: Promise<void> | undefined;
  #closed = false;
  #now: () => number;

  /**
   * @param log Where the batches go.
   * @param onAppended Called after each batch is stored (before the
   * per-message callbacks), with the bodies that were stored.
   * @param now The clock that stamps each batch.
   */
  constructor(log: DurableLog, onAppended: AppendedCallback, now: () => number = Date.now) {
    this.#log = log;
    this.#onAppended = onAppended;
    this.#now = now;
  }

  /** Bytes of messages taken but not yet stored. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Takes a message: copies it and appends it with the rest of this tick's
   * messages.
   *
   * @param message The bytes; only read during the call.
   * @param onStored Told the offset (or the error) once stored.
   */
  add(message: Uint8Array, onStored?: StoredCallback): void {
    if (this.#closed) {
      onStored?.(
        new MbError("STORAGE_FAILED", "Cannot store the message: the store is closed"),
        -1,
      );
      return;
    }
    this.#bodies.push(message.slice());
    this.#callbacks.push(onStored);
    this.#pendingBytes += message.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#start());
    }
  }

  /** Resolves when everything taken so far is stored (or failed). */
  async whenIdle(): Promise<void> {
    while (this.#running !== undefined || this.#scheduled) {
      if (this.#running !== undefined) await this.#running;
      else await new Promise<void>((resolve) => queueMicrotask(resolve));
    }
  }

  /** Refuses further messages and waits for those taken to be stored. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.whenIdle();
  }

  #start(): void {
    this.#scheduled = false;
    if (this.#running !== undefined || this.#bodies.length === 0) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#bodies.length > 0) {
      const bodies = this.#bodies;
      const callbacks = this.#callbacks;
      this.#bodies = [];
      this.#callbacks = [];
      let bytes = 0;
      for (let i = 0; i < bodies.length; i++) bytes += bodies[i].length;
      const timestamp = this.#now();
      try {
        const { first } = await this.#log.append(bodies, timestamp);
        this.#pendingBytes -= bytes;
        this.#onAppended(first, bodies, timestamp);
        for (let i = 0; i < callbacks.length; i++) callbacks[i]?.(undefined, first + i);
      } catch (error) {
        this.#pendingBytes -= bytes;
        const failure = error instanceof MbError
          ? error
          : new MbError("STORAGE_FAILED", `Cannot store messages: ${error}`);
        for (let i = 0; i < callbacks.length; i++) callbacks[i]?.(failure, -1);
      }
    }
  }
}
