// Copyright mb authors. MIT license.

import { MbError } from "../../protocol/errors.ts";
import type { DurableLog } from "./durable_log.ts";
import { batchSize, checkRead, checkRetention, invalid } from "./_errors.ts";
import { RECORD_HEADER_BYTES } from "./_record.ts";
import type {
  LogRecord,
  SegmentLogAppended,
  SegmentLogReadOptions,
  SegmentLogRemoved,
  SegmentLogRetention,
} from "./_types.ts";

const DEFAULT_READ_MAX_RECORDS = 1000;
const DEFAULT_READ_MAX_BYTES = 1024 * 1024;
/** Dropped slots at the front of the arrays before they are compacted. */
const COMPACT_MIN = 1024;

/** Options for {@linkcode MemoryLog}. */
export interface MemoryLogOptions {
  /**
   * The clock, in milliseconds since the epoch: default timestamps and
   * retention by age use it.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * A {@linkcode DurableLog} kept in memory, for a broker without a data
 * directory (and for tests): the same offsets, reads and errors as
 * {@linkcode SegmentLog}, nothing survives the process.
 *
 * Differences from the disk log: retention drops individual records, so
 * after `applyRetention` the log holds at most `maxRecords` records and
 * `maxBytes` bytes and nothing older than `maxAgeMs`; `removeBefore` drops
 * exactly the records below its offset; `roll` and `flush` do nothing.
 * `byteSize` counts each record as {@linkcode RECORD_HEADER_BYTES} plus its
 * body, as on disk. Read bodies are the stored arrays: do not change them.
 *
 * @example Append, read, drop old records
 * ```ts
 * import { MemoryLog } from "./memory_log.ts";
 * import assert from "node:assert/strict";
 *
 * await using log = new MemoryLog();
 * const { first, last } = await log.append([new Uint8Array([1]), new Uint8Array([2])]);
 * assert.deepEqual([first, last], [0, 1]);
 * assert.deepEqual((await log.read(1)).map((r) => r.body[0]), [2]);
 * await log.applyRetention({ maxRecords: 1 });
 * assert.equal(log.firstOffset, 1);
 * assert.equal(log.nextOffset, 2);
 * ```
 */
export class MemoryLog implements DurableLog, AsyncDisposable {
  readonly #now: () => number;
  /** Bodies from index `#head` on; the record at index `i` has offset `#base + i`. */
  #bodies: Uint8Array[] = [];
  #timestamps: number[] = [];
  #head = 0;
  #base = 0;
  #bytes = 0;
  #closed = false;

  /**
   * Creates an empty log whose first record gets offset 0.
   *
   * @param options The clock.
   */
  constructor(options: MemoryLogOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Offset of the oldest record held; {@linkcode nextOffset} when empty. */
  get firstOffset(): number {
    return this.#base + this.#head;
  }

  /** Offset the next record will get. */
  get nextOffset(): number {
    return this.#base + this.#bodies.length;
  }

  /** Number of records held. */
  get recordCount(): number {
    return this.#bodies.length - this.#head;
  }

  /** Bytes of the records held: {@linkcode RECORD_HEADER_BYTES} plus the body, each. */
  get byteSize(): number {
    return this.#bytes;
  }

  /**
   * Appends a batch of records with consecutive offsets, all with the same
   * timestamp. The bodies are copied during the call.
   *
   * @param bodies The record bodies; an empty array resolves with `last < first`.
   * @param timestamp Milliseconds since the epoch; defaults to the clock's now.
   * @returns The offsets given to the first and last record.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed;
   * `INVALID_ARGUMENT` for a bad body or timestamp.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const log = new MemoryLog();
   * assert.deepEqual(await log.append([new Uint8Array(3)]), { first: 0, last: 0 });
   * assert.equal(log.byteSize, 25 + 3);
   * ```
   */
  append(bodies: Uint8Array[], timestamp?: number): Promise<SegmentLogAppended> {
    if (this.#closed) return Promise.reject(closedError("append to"));
    if (!Array.isArray(bodies)) {
      return Promise.reject(invalid("Cannot append: bodies is not an array"));
    }
    const ts = timestamp ?? this.#now();
    const size = batchSize(bodies, ts);
    if (size instanceof MbError) return Promise.reject(size);
    const first = this.nextOffset;
    for (let i = 0; i < bodies.length; i++) {
      this.#bodies.push(bodies[i].slice());
      this.#timestamps.push(ts);
    }
    this.#bytes += size;
    return Promise.resolve({ first, last: first + bodies.length - 1 });
  }

  /**
   * Reads records in offset order from the first one at or after
   * `fromOffset`, up to `maxRecords` records and `maxBytes` body bytes; at
   * least one when one exists.
   *
   * @param fromOffset The offset to start at.
   * @param options The bounds.
   * @returns The records, possibly none; their bodies must not be changed.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed;
   * `INVALID_ARGUMENT` for a bad offset or bound.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const log = new MemoryLog();
   * await log.append([new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)]);
   * assert.deepEqual((await log.read(1, { maxRecords: 1 })).map((r) => r.offset), [1]);
   * assert.deepEqual(await log.read(3), []);
   * ```
   */
  read(fromOffset: number, options: SegmentLogReadOptions = {}): Promise<LogRecord[]> {
    if (this.#closed) return Promise.reject(closedError("read from"));
    const maxRecords = options.maxRecords ?? DEFAULT_READ_MAX_RECORDS;
    const maxBytes = options.maxBytes ?? DEFAULT_READ_MAX_BYTES;
    try {
      checkRead(fromOffset, maxRecords, maxBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    const records: LogRecord[] = [];
    const bodies = this.#bodies;
    let i = Math.max(fromOffset - this.#base, this.#head);
    let bytes = 0;
    for (; i < bodies.length && records.length < maxRecords; i++) {
      const body = bodies[i];
      if (records.length > 0 && bytes + body.length > maxBytes) break;
      bytes += body.length;
      records.push({ offset: this.#base + i, timestamp: this.#timestamps[i], body });
    }
    return Promise.resolve(records);
  }

  /**
   * Drops the oldest records, one at a time, while the log holds more than
   * `maxRecords` records or `maxBytes` bytes, or its oldest record is older
   * than `maxAgeMs`.
   *
   * @param limits The limits; unset ones do not apply.
   * @returns What was removed (`segments` is always 0), and the new first offset.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed;
   * `INVALID_ARGUMENT` for a bad limit.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const log = new MemoryLog();
   * await log.append([new Uint8Array(5), new Uint8Array(5), new Uint8Array(5)]);
   * const removed = await log.applyRetention({ maxBytes: 2 * (25 + 5) });
   * assert.equal(removed.records, 1);
   * assert.equal(log.firstOffset, 1);
   * ```
   */
  applyRetention(limits: SegmentLogRetention): Promise<SegmentLogRemoved> {
    if (this.#closed) return Promise.reject(closedError("apply retention to"));
    const error = checkRetention(limits);
    if (error !== undefined) return Promise.reject(error);
    const maxRecords = limits.maxRecords ?? Infinity;
    const maxBytes = limits.maxBytes ?? Infinity;
    const cutoff = limits.maxAgeMs === undefined ? -Infinity : this.#now() - limits.maxAgeMs;
    return Promise.resolve(
      this.#dropWhile((i) =>
        this.#bodies.length - i > maxRecords || this.#bytes > maxBytes ||
        this.#timestamps[i] < cutoff
      ),
    );
  }

  /**
   * Drops every record with an offset below `offset`.
   *
   * @param offset The first offset to keep.
   * @returns What was removed, and the new first offset.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed;
   * `INVALID_ARGUMENT` for an offset that is not a non-negative integer.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const log = new MemoryLog();
   * await log.append([new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)]);
   * await log.removeBefore(2);
   * assert.equal(log.firstOffset, 2);
   * assert.equal(log.recordCount, 1);
   * ```
   */
  removeBefore(offset: number): Promise<SegmentLogRemoved> {
    if (this.#closed) return Promise.reject(closedError("remove old records from"));
    if (!Number.isSafeInteger(offset) || offset < 0) {
      return Promise.reject(invalid(`Cannot remove records before ${offset}: not an offset`));
    }
    const end = offset - this.#base;
    return Promise.resolve(this.#dropWhile((i) => i < end));
  }

  /**
   * Drops every record; the next append gets the offset it would have got.
   *
   * @returns What was removed.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const log = new MemoryLog();
   * await log.append([new Uint8Array(1), new Uint8Array(1)]);
   * assert.equal((await log.truncateAll()).records, 2);
   * assert.deepEqual(await log.append([new Uint8Array(1)]), { first: 2, last: 2 });
   * ```
   */
  truncateAll(): Promise<SegmentLogRemoved> {
    if (this.#closed) return Promise.reject(closedError("truncate"));
    return Promise.resolve(this.#dropWhile(() => true));
  }

  /**
   * Does nothing: a memory log has no segments. Present for
   * {@linkcode DurableLog}.
   *
   * @returns A resolved promise.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   *
   * await new MemoryLog().roll();
   * ```
   */
  roll(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError("roll"));
    return Promise.resolve();
  }

  /**
   * Does nothing: there is no disk to sync. Present for {@linkcode DurableLog}.
   *
   * @returns A resolved promise.
   * @throws {MbError} `STORAGE_FAILED` when the log is closed.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   *
   * await new MemoryLog().flush();
   * ```
   */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError("flush"));
    return Promise.resolve();
  }

  /**
   * Closes the log: later calls of other methods reject with
   * `STORAGE_FAILED`; a second close resolves. The records stay readable
   * through the getters only.
   *
   * @returns A resolved promise.
   *
   * @example
   * ```ts
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const log = new MemoryLog();
   * await log.close();
   * await assert.rejects(log.append([new Uint8Array(1)]), { code: "STORAGE_FAILED" });
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Closes the log; see {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Drops records from the front while `drop(index)` holds. */
  #dropWhile(drop: (index: number) => boolean): SegmentLogRemoved {
    const bodies = this.#bodies;
    const start = this.#head;
    let i = start;
    let bytes = 0;
    while (i < bodies.length && drop(i)) {
      const size = RECORD_HEADER_BYTES + bodies[i].length;
      bytes += size;
      this.#bytes -= size;
      bodies[i] = EMPTY;
      i++;
    }
    this.#head = i;
    if (i === bodies.length) {
      this.#base += i;
      this.#bodies = [];
      this.#timestamps = [];
      this.#head = 0;
    } else if (i >= COMPACT_MIN && i * 2 >= bodies.length) {
      this.#bodies = bodies.slice(i);
      this.#timestamps = this.#timestamps.slice(i);
      this.#base += i;
      this.#head = 0;
    }
    return { segments: 0, records: i - start, bytes, firstOffset: this.firstOffset };
  }
}

const EMPTY = new Uint8Array(0);

function closedError(action: string): MbError {
  return new MbError("STORAGE_FAILED", `Cannot ${action} memory log: it is closed`);
}
