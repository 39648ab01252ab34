// Copyright mb authors. MIT license.
// This module is browser compatible.

import type { MbError } from "../protocol/errors.ts";

/**
 * The queue behind an async iterator of deliveries (messages or jobs): items
 * pushed by the read loop wait here until `next()` takes them, or go
 * straight to a `next()` that is already waiting. After `end()`, the queued
 * items are still taken, then `next()` reports done (or throws the error
 * `end` was given, once).
 *
 * @example
 * ```ts
 * import { DeliveryQueue } from "./_delivery_queue.ts";
 * import assert from "node:assert/strict";
 *
 * const queue = new DeliveryQueue<string>();
 * const waiting = queue.next();
 * queue.push("a", 10);
 * queue.push("b", 1);
 * assert.equal(queue.push("c", 1), false, "full: dropped");
 * queue.end();
 * assert.deepEqual(await waiting, { value: "a", done: false });
 * assert.deepEqual(await queue.next(), { value: "b", done: false });
 * assert.equal((await queue.next()).done, true);
 * ```
 */
export class DeliveryQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #failWaiter: ((error: Error) => void) | undefined;
  #ended = false;
  #error: MbError | undefined;
  #onTake: (() => void) | undefined;

  /** @param onTake Called each time an item leaves the queue for `next()`. */
  constructor(onTake?: () => void) {
    this.#onTake = onTake;
  }

  /** Items waiting to be taken. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Whether `end` was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Hands `item` to a waiting `next()`, or queues it unless `max` items
   * already wait.
   *
   * @returns `false` when the item was dropped because the queue was full.
   */
  push(item: T, max: number): boolean {
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      waiter({ value: item, done: false });
      if (this.#onTake !== undefined) this.#onTake();
      return true;
    }
    if (this.#items.length - this.#head >= max) return false;
    this.#items.push(item);
    return true;
  }

  /**
   * Drops the queued items.
   *
   * @returns How many were dropped.
   */
  clear(): number {
    const dropped = this.#items.length - this.#head;
    this.#items = [];
    this.#head = 0;
    return dropped;
  }

  /** Ends the queue; with an error, `next()` throws it once the queue is empty. */
  end(error?: MbError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    const waiter = this.#waiter;
    const failWaiter = this.#failWaiter;
    this.#waiter = undefined;
    this.#failWaiter = undefined;
    if (error !== undefined && failWaiter !== undefined) {
      this.#error = undefined;
      failWaiter(error);
    } else if (waiter !== undefined) waiter({ value: undefined, done: true });
  }

  /** The next item, waiting for one if none is queued. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head] as T;
      this.#items[this.#head++] = undefined;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      if (this.#onTake !== undefined) this.#onTake();
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      const error = this.#error;
      this.#error = undefined;
      return error === undefined
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }
}
