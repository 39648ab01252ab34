// Copyright mb authors. MIT license.
// The publish window: publishers may run at most `window` messages ahead of
// the slowest receiver, so the broker's queues stay small and what is
// measured is throughput, not buffering.

/** Something that counts what it received (a WireCounter, or the client row's tally). */
export interface Tally {
  /** Messages delivered to it. */
  delivered: number;
  /** Replies received by it. */
  replies: number;
}

/** One receiver the window waits for. */
export interface Gauge {
  /** Its counts. */
  tally: Tally;
  /** Which count moves as messages are processed. */
  field: "delivered" | "replies";
  /** How many of that count each published message earns (1, or 1/4 for a quarter of the topics). */
  share: number;
  /** A name for error messages. */
  name: string;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Tracks published messages against what the receivers have seen.
 * `progress()` is the number of published messages every receiver has
 * fully processed (its count divided by its share, less the count at the
 * last {@linkcode Flow.reset}).
 *
 * @example
 * ```ts
 * import { Flow } from "./flow.ts";
 * import assert from "node:assert/strict";
 *
 * const sub = { delivered: 0, replies: 0 };
 * const flow = new Flow([{ tally: sub, field: "delivered", share: 1, name: "sub" }]);
 * flow.claim(10);
 * const waiting = flow.waitProgress(10);
 * sub.delivered = 10;
 * flow.notify();
 * await waiting;
 * assert.equal(flow.progress(), 10);
 * ```
 */
export class Flow {
  /** Messages claimed by publishers since the last reset. */
  published = 0;
  #gauges: Gauge[];
  #bases: number[];
  #waiters: Waiter[] = [];
  #failure: Error | undefined;

  /**
   * @param gauges The receivers to wait for.
   */
  constructor(gauges: Gauge[]) {
    this.#gauges = gauges;
    this.#bases = gauges.map((gauge) => gauge.tally[gauge.field]);
  }

  /** Starts counting again from the receivers' current counts. */
  reset(): void {
    this.published = 0;
    for (let i = 0; i < this.#gauges.length; i++) {
      const gauge = this.#gauges[i];
      this.#bases[i] = gauge.tally[gauge.field];
    }
  }

  /**
   * Reserves `count` messages for a publisher.
   *
   * @param count Messages about to be published.
   * @returns The total published since the reset, these included.
   */
  claim(count: number): number {
    this.published += count;
    return this.published;
  }

  /**
   * Messages every receiver has processed since the reset.
   *
   * @returns The smallest count / share over the gauges.
   */
  progress(): number {
    let least = Infinity;
    const gauges = this.#gauges;
    for (let i = 0; i < gauges.length; i++) {
      const gauge = gauges[i];
      const done = (gauge.tally[gauge.field] - this.#bases[i]) / gauge.share;
      if (done < least) least = done;
    }
    return least;
  }

  /**
   * Counts of each gauge since the reset, for checks and error messages.
   *
   * @returns One entry per gauge.
   */
  counts(): { name: string; count: number; share: number }[] {
    return this.#gauges.map((gauge, i) => ({
      name: gauge.name,
      count: gauge.tally[gauge.field] - this.#bases[i],
      share: gauge.share,
    }));
  }

  /**
   * Resolves once {@linkcode Flow.progress} reaches `target`.
   *
   * @param target Messages processed by every receiver.
   * @returns Resolves then; rejects when the flow fails.
   */
  waitProgress(target: number): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.progress() >= target) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ target, resolve, reject }));
  }

  /** Wakes the waiters whose target is reached; call after counts move. */
  notify(): void {
    if (this.#waiters.length === 0) return;
    const progress = this.progress();
    let kept = 0;
    const waiters = this.#waiters;
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i];
      if (progress >= waiter.target) waiter.resolve();
      else waiters[kept++] = waiter;
    }
    waiters.length = kept;
  }

  /**
   * Fails every current and later wait.
   *
   * @param error Why.
   */
  fail(error: Error): void {
    this.#failure ??= error;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(this.#failure);
  }

  /** Whether a publisher is waiting. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }
}
