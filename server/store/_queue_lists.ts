// Copyright mb authors. MIT license.

/**
 * The time-ordered lists of a queue: a FIFO of messages ready for
 * redelivery, the messages nacked with a delay (one timer for the earliest),
 * and the ack deadlines of deliveries (one timer for the oldest).
 *
 * @module
 */

/** Longest delay `setTimeout` takes; longer waits re-arm. */
const MAX_TIMER_MS = 0x7fffffff;
/** Dead entries the deadline list tolerates before it compacts. */
const SWEEP_SLACK = 1024;

/** The monotonic clock of deadlines and delays, in milliseconds. */
export function monotonicNow(): number {
  return performance.now();
}

/** A first-in, first-out list with cheap removal from the front. */
export class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  /** Entries held. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Adds `items` at the front, in their order. */
  unshiftAll(items: readonly T[]): void {
    if (items.length === 0) return;
    this.#items = items.concat(this.#items.slice(this.#head));
    this.#head = 0;
  }

  /** Removes and returns the front entry. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns every entry. */
  drain(): T[] {
    const out = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return out;
  }
}

/** An entry with a due time on the {@linkcode monotonicNow} clock. */
export interface Due {
  /** When it is due. */
  due: number;
}

/**
 * Entries kept in due order with one timer for the earliest; `onDue` gets
 * those whose time has come.
 */
export class DelayList<T extends Due> {
  #items: T[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Infinity;
  #onDue: (items: T[]) => void;

  /** @param onDue Called with the entries that are due, in due order. */
  constructor(onDue: (items: T[]) => void) {
    this.#onDue = onDue;
  }

  /** Entries held. */
  get length(): number {
    return this.#items.length;
  }

  /** Adds an entry. */
  add(item: T): void {
    const items = this.#items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid].due <= item.due) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, item);
    if (lo === 0) this.#arm();
  }

  /** Removes and returns every entry; stops the timer. */
  drain(): T[] {
    const out = this.#items;
    this.#items = [];
    this.stop();
    return out;
  }

  /** Stops the timer (entries stay). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(): void {
    if (this.#items.length === 0) {
      this.stop();
      return;
    }
    const due = this.#items[0].due;
    if (this.#timer !== undefined && this.#armedFor <= due) return;
    clearTimeout(this.#timer);
    this.#armedFor = due;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(due - monotonicNow())));
    this.#timer = setTimeout(() => this.#fire(), wait);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = monotonicNow();
    const items = this.#items;
    let n = 0;
    while (n < items.length && items[n].due <= now) n++;
    const due = n === 0 ? [] : items.splice(0, n);
    this.#arm();
    if (due.length > 0) this.#onDue(due);
  }
}

/** A delivery waiting for its ack, as {@linkcode DeadlineSweeper} sees it. */
export interface Deadline {
  /** When it expires. */
  deadline: number;
}

/**
 * Ack deadlines, all the same length, so they expire in the order they were
 * added: a FIFO with one timer for the oldest. Settled deliveries are not
 * removed, just skipped (`isLive`), and compacted away when they pile up.
 */
export class DeadlineSweeper<T extends Deadline> {
  #items: T[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #isLive: (item: T) => boolean;
  #onExpired: (items: T[]) => void;

  /**
   * @param isLive Whether an entry is still waiting for its ack.
   * @param onExpired Called with the live entries whose deadline passed.
   */
  constructor(isLive: (item: T) => boolean, onExpired: (items: T[]) => void) {
    this.#isLive = isLive;
    this.#onExpired = onExpired;
  }

  /**
   * Adds an entry whose deadline is not before any added earlier.
   *
   * @param live How many entries are live now, to decide on compaction.
   */
  add(item: T, live: number): void {
    this.#items.push(item);
    if (this.#timer === undefined) this.#arm();
    else if (this.#items.length - this.#head > 2 * live + SWEEP_SLACK) this.#compact();
  }

  /** Stops the timer and forgets every entry. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#items = [];
    this.#head = 0;
  }

  #compact(): void {
    const kept: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      if (this.#isLive(this.#items[i])) kept.push(this.#items[i]);
    }
    this.#items = kept;
    this.#head = 0;
  }

  #arm(): void {
    while (this.#head < this.#items.length && !this.#isLive(this.#items[this.#head])) {
      this.#head++;
    }
    if (this.#head >= this.#items.length) {
      this.#items = [];
      this.#head = 0;
      return;
    }
    const wait = Math.max(0, Math.ceil(this.#items[this.#head].deadline - monotonicNow()));
    this.#timer = setTimeout(() => this.#fire(), Math.min(MAX_TIMER_MS, wait));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = monotonicNow();
    const expired: T[] = [];
    const items = this.#items;
    while (this.#head < items.length && items[this.#head].deadline <= now) {
      const item = items[this.#head];
      items[this.#head++] = undefined as unknown as T;
      if (this.#isLive(item)) expired.push(item);
    }
    if (this.#head > SWEEP_SLACK && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    this.#arm();
    if (expired.length > 0) this.#onExpired(expired);
  }
}

/** Background work a queue waits for before it closes its logs. */
export class Tasks {
  readonly #tasks = new Set<Promise<unknown>>();

  /** Registers a task (it should not reject; a rejection is ignored). */
  track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    const forget = () => this.#tasks.delete(task);
    task.then(forget, forget);
  }

  /** Resolves once no task is left, including tasks added meanwhile. */
  async drain(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}
