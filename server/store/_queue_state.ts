// Copyright mb authors. MIT license.

/**
 * Where a queue stands in its messages log, in memory: the cursor (next
 * message never delivered), the delivery counts of delivered, unsettled
 * messages, the read page of new messages, and the bytes held against
 * `maxBytes`. Synchronous; the queue does the I/O.
 *
 * Invariant: below `cursor`, a message is unsettled exactly when `counts`
 * has it (and `counts`, filled in cursor order, iterates in id order); from
 * `cursor` to `stored` every message is unsettled except those in `skip`,
 * and `ahead` holds the counts some of them had before a restart.
 *
 * @module
 */

import type { LogRecord } from "./_types.ts";
import { checkpointSize, encodeCheckpoint, type QueueImage } from "./_queue_records.ts";

/** Most records one read of new messages returns. */
export const PAGE_RECORDS = 512;
/** Most body bytes one read of new messages returns, and most a page adopts from appends. */
export const PAGE_BYTES = 1024 * 1024;

const NO_RECORDS: LogRecord[] = [];

/**
 * The positions and counters of one queue.
 *
 * @example New messages are taken from the page in order
 * ```ts
 * import { QueueState } from "./_queue_state.ts";
 * import assert from "node:assert/strict";
 *
 * const state = new QueueState();
 * state.appended(0, [new Uint8Array(2), new Uint8Array(3)], 0, true);
 * assert.equal(state.nextFromPage()?.offset, 0);
 * state.counts.set(0, 1);
 * assert.equal(state.unsettled(), 2);
 * assert.equal(state.floor(), 0);
 * state.counts.delete(0);
 * assert.equal(state.floor(), 1);
 * ```
 */
export class QueueState {
  /** Next id never delivered (since open). */
  cursor = 0;
  /** Ids below it are stored. */
  stored = 0;
  /** Delivery counts of delivered, unsettled ids below `cursor`, in id order. */
  readonly counts: Map<number, number> = new Map();
  /** Counts recovered for ids at or above `cursor`. */
  readonly ahead: Map<number, number> = new Map();
  /** Settled ids at or above `cursor` (known from the state log). */
  readonly skip: Set<number> = new Set();
  /** New messages read (or adopted from appends) and not yet taken. */
  page: LogRecord[] = NO_RECORDS;
  /** Next record of `page` to take. */
  pagePos = 0;
  /** The next read of new messages starts here. */
  pageEnd = 0;
  /** Body bytes of `page`. */
  pageBytes = 0;
  /** Changes when the page is thrown away, so a read in flight is ignored. */
  epoch = 0;
  /** Body bytes of the stored ids from `cursor` on. */
  tailBytes = 0;
  /** Body bytes of the delivered, unsettled messages. */
  outBytes = 0;

  /**
   * Takes the state replayed from the state log, clamped to what the
   * messages log holds (`[first, next)`). Returns the delivered, unsettled
   * ids below the new cursor, ascending (they are ready for redelivery),
   * and whether the state log named ids the messages log does not hold
   * (then it needs a checkpoint: those ids may be given to new messages).
   */
  restore(image: QueueImage, first: number, next: number): { ready: number[]; clamped: boolean } {
    const hi = Math.min(Math.max(image.hi, first), next);
    let clamped = hi > image.hi || hi < image.hi;
    this.cursor = hi;
    this.pageEnd = hi;
    this.stored = next;
    const below: number[] = [];
    for (const [id, count] of image.counts) {
      if (id < first || id >= next) clamped = true;
      else if (id < hi) below.push(id);
      else this.ahead.set(id, count);
    }
    below.sort((a, b) => a - b);
    for (const id of below) this.counts.set(id, image.counts.get(id)!);
    for (const id of image.settled) {
      if (id >= hi && id < next) this.skip.add(id);
      else clamped = true;
    }
    return { ready: below, clamped };
  }

  /** Lowest unsettled id: every id below it is settled. */
  floor(): number {
    for (const id of this.counts.keys()) return id;
    return this.cursor;
  }

  /** Unsettled messages stored. */
  unsettled(): number {
    return this.counts.size + Math.max(0, this.stored - this.cursor - this.skip.size);
  }

  /** Bytes of unsettled stored messages. */
  heldBytes(): number {
    return Math.max(0, this.tailBytes) + Math.max(0, this.outBytes);
  }

  /** Whether `id` is delivered and unsettled (or was, before a restart). */
  isOut(id: number): boolean {
    return this.counts.has(id);
  }

  /**
   * Notes a stored batch; when `adopt` and the page ends where the batch
   * starts, the batch joins the page so it is delivered without a read.
   */
  appended(first: number, bodies: Uint8Array[], timestamp: number, adopt: boolean): void {
    let bytes = 0;
    for (let i = 0; i < bodies.length; i++) bytes += bodies[i].length;
    this.tailBytes += bytes;
    const end = first + bodies.length;
    if (end > this.stored) this.stored = end;
    if (!adopt || this.pageEnd !== first || this.pageBytes + bytes > PAGE_BYTES) return;
    if (this.pagePos >= this.page.length) this.#clearPage();
    if (this.page === NO_RECORDS) this.page = [];
    for (let i = 0; i < bodies.length; i++) {
      this.page.push({ offset: first + i, timestamp, body: bodies[i] });
    }
    this.pageEnd = end;
    this.pageBytes += bytes;
  }

  /** Whether the page has records left. */
  hasPage(): boolean {
    return this.pagePos < this.page.length;
  }

  /** Installs records read from `pageEnd`; returns `false` when the read found nothing. */
  setPage(records: LogRecord[]): boolean {
    if (records.length === 0) return false;
    this.#clearPage();
    let bytes = 0;
    for (let i = 0; i < records.length; i++) bytes += records[i].body.length;
    this.page = records;
    this.pageBytes = bytes;
    this.pageEnd = records[records.length - 1].offset + 1;
    return true;
  }

  /**
   * Takes the next unsettled record of the page, moving the cursor past it
   * (and past settled or missing ids before it); `undefined` when the page
   * is used up.
   */
  nextFromPage(): LogRecord | undefined {
    while (this.pagePos < this.page.length) {
      const record = this.page[this.pagePos++];
      const id = record.offset;
      if (id < this.cursor) continue;
      if (id > this.cursor) this.#forgetBelow(id);
      this.cursor = id + 1;
      this.tailBytes -= record.body.length;
      if (this.skip.size > 0 && this.skip.delete(id)) continue;
      if (this.pagePos >= this.page.length) this.#clearPage();
      return record;
    }
    this.#clearPage();
    return undefined;
  }

  /** Deliveries an id had before a restart (0 for none); forgets them. */
  takeAhead(id: number): number {
    if (this.ahead.size === 0) return 0;
    const count = this.ahead.get(id) ?? 0;
    this.ahead.delete(id);
    return count;
  }

  /** The state log found nothing from `pageEnd` to `stored`: skip those ids. */
  skipMissing(): void {
    this.#forgetBelow(this.stored);
    this.cursor = this.pageEnd = this.stored;
    this.tailBytes = 0;
  }

  /**
   * Settles every stored id from the cursor on: returns the range and how
   * many of its ids were unsettled.
   */
  purgeTail(): { from: number; to: number; purged: number } {
    const from = this.cursor;
    const to = Math.max(from, this.stored);
    let settled = 0;
    for (const id of this.skip) if (id < to) settled++;
    this.#forgetBelow(to);
    this.cursor = this.pageEnd = to;
    this.#clearPage();
    this.epoch++;
    this.tailBytes = 0;
    return { from, to, purged: to - from - settled };
  }

  /** Bytes a checkpoint would take now. */
  checkpointSize(): number {
    return checkpointSize(this.counts.size + this.ahead.size, this.skip.size);
  }

  /** A checkpoint record of the state now. */
  checkpoint(): Uint8Array {
    return encodeCheckpoint(this.cursor, [this.counts, this.ahead], this.skip);
  }

  #forgetBelow(id: number): void {
    if (this.skip.size > 0) { for (const s of this.skip) if (s < id) this.skip.delete(s); }
    if (this.ahead.size > 0) {
      for (const a of this.ahead.keys()) {
        if (a < id) this.ahead.delete(a);
      }
    }
  }

  #clearPage(): void {
    this.page = NO_RECORDS;
    this.pagePos = 0;
    this.pageBytes = 0;
  }
}
