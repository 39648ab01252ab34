// Copyright mb authors. MIT license.

/**
 * An append-only log of opaque records on disk, split into segment files:
 * the foundation of mb's embedded durable store. Streams (offsets, replay,
 * retention) and queues (ack state) are built on {@linkcode SegmentLog}.
 *
 * ## Files
 *
 * A log owns one directory. Each segment is `<base>.log`, where `<base>` is
 * the offset of its first record as a 20-digit zero-padded decimal
 * (`00000000000000001000.log`). The newest segment is the active one;
 * appends go to it, and it is rolled (a new file is started, named by the
 * next offset) when it has reached `segmentBytes` or is older than
 * `segmentMaxAgeMs`. There is no other file: the active segment is never
 * deleted, even when empty, so its name remembers the next offset after
 * retention or {@linkcode SegmentLog.truncateAll} removed every record.
 *
 * ## Records
 *
 * Records follow each other with no padding: a 25-byte header
 * ({@linkcode RECORD_HEADER_BYTES}: magic, CRC-32C, body length, offset and
 * timestamp, big-endian) and the body. `_record.ts` documents the layout
 * byte by byte.
 *
 * ## Recovery at open
 *
 * Every segment is scanned once at open to rebuild its sparse index (one
 * entry every `indexIntervalBytes`) and its record count. The last segment
 * is checked record by record: magic, length within the file, offset equal
 * to the previous one plus one, and checksum. Older segments were complete
 * when they were rolled, so they are checked the same way without the
 * checksum (reads check it). The file is cut at the first record that fails
 * a check, `onRecover` is told, and the next offset is the last good offset
 * plus one, so an offset is never handed out twice.
 *
 * @module
 */

import { MbError } from "../../protocol/errors.ts";
import { batchSize, checkOptions, checkRead, checkRetention, invalid } from "./_errors.ts";
import type { DurableLog } from "./durable_log.ts";
import { LogFiles } from "./_log_files.ts";
import { readLog } from "./_read.ts";
import { WriteQueue } from "./_write_queue.ts";
import type {
  LogRecord,
  SegmentLogAppended,
  SegmentLogOptions,
  SegmentLogReadOptions,
  SegmentLogRemoved,
  SegmentLogRetention,
} from "./_types.ts";

export { RECORD_HEADER_BYTES } from "./_record.ts";
export type {
  LogRecord,
  SegmentLogAppended,
  SegmentLogFsync,
  SegmentLogOptions,
  SegmentLogReadOptions,
  SegmentLogRecovery,
  SegmentLogRecoveryReason,
  SegmentLogRemoved,
  SegmentLogRetention,
} from "./_types.ts";

const DEFAULT_READ_MAX_RECORDS = 1000;
const DEFAULT_READ_MAX_BYTES = 1024 * 1024;

/**
 * An append-only, segmented log of opaque records with 64-bit offsets (held
 * as `number`, exact up to 2^53 - 1), on disk in one directory. See the
 * module documentation for the file format and the recovery rules.
 *
 * - **Appends** are serialized through one internal queue. Each batch is
 *   encoded into one buffer; batches waiting in the queue are coalesced into
 *   one `write` (short writes are retried) and, under `fsync: "always"`, one
 *   `fdatasync` covers every batch of that write: group commit.
 * - **Reads** run concurrently with appends. They see exactly the records
 *   whose append has resolved (under `"always"`, only synced records), never
 *   half a record, and they read from disk through a sparse in-memory index;
 *   no record data is kept in memory.
 * - **Failures.** A failed write is cut back to the last good record and its
 *   appends reject with `STORAGE_FAILED`; the log stays usable. If the cut
 *   itself fails, or an `fdatasync` fails (after which the kernel may have
 *   dropped dirty pages, so what is on disk is unknown), the log is marked
 *   failed: every later append rejects with `STORAGE_FAILED` until the log
 *   is closed and opened again, which recovers from what is really on disk.
 *   Reads keep working. An append refused by the `maxBytesOnDisk` quota
 *   rejects with `STORAGE_FULL` and writes nothing.
 *
 * Two `SegmentLog`s must not open the same directory at once.
 *
 * @example Append a batch, read it back, reopen
 * ```ts
 * import { SegmentLog } from "./segment_log.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   const bytes = new TextEncoder();
 *   {
 *     await using log = await SegmentLog.open(dir, { fsync: "always" });
 *     const { first, last } = await log.append([bytes.encode("a"), bytes.encode("b")]);
 *     assert.deepEqual([first, last], [0, 1]);
 *     const records = await log.read(1);
 *     assert.equal(records.length, 1);
 *     assert.equal(new TextDecoder().decode(records[0].body), "b");
 *   }
 *   await using log = await SegmentLog.open(dir);
 *   assert.equal(log.nextOffset, 2);
 *   assert.equal(log.recordCount, 2);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class SegmentLog implements DurableLog, AsyncDisposable {
  readonly #files: LogFiles;
  readonly #queue: WriteQueue;
  readonly #verify: boolean;

  private constructor(files: LogFiles, options: SegmentLogOptions) {
    this.#files = files;
    this.#queue = new WriteQueue(files, options.fsyncIntervalMs);
    this.#verify = options.verifyChecksums ?? true;
  }

  /**
   * Opens the log in `dir`, creating the directory if needed, and recovers
   * it: scans every segment, cuts a torn or corrupt tail (telling
   * `onRecover`), and rebuilds the sparse indexes.
   *
   * @param dir The log's directory; it holds nothing but segment files.
   * @param options Segment size, fsync policy, quota, clock and hooks.
   * @returns The open log; close it with `close()` or `await using`.
   * @throws {MbError} `STORAGE_FAILED` when the directory or a segment cannot
   * be created, read or cut (for example `dir` is a file, or is read-only),
   * or segments overlap; `INVALID_ARGUMENT` for a bad option.
   *
   * @example Recovery of a torn tail
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   {
   *     await using log = await SegmentLog.open(dir);
   *     await log.append([new Uint8Array(10), new Uint8Array(10)]);
   *   }
   *   await Deno.truncate(`${dir}/00000000000000000000.log`, 50); // cut record 1
   *   const cuts: string[] = [];
   *   await using log = await SegmentLog.open(dir, { onRecover: (info) => cuts.push(info.reason) });
   *   assert.deepEqual(cuts, ["torn"]);
   *   assert.equal(log.nextOffset, 1);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  static async open(dir: string, options: SegmentLogOptions = {}): Promise<SegmentLog> {
    checkOptions(options);
    return new SegmentLog(await LogFiles.open(dir, options), options);
  }

  /** The log's directory. */
  get dir(): string {
    return this.#files.dir;
  }

  /** Offset of the oldest record still in the log; {@linkcode nextOffset} when it is empty. */
  get firstOffset(): number {
    return this.#files.firstOffset;
  }

  /** Offset the next record will get: the last readable offset plus one. */
  get nextOffset(): number {
    return this.#files.nextOffset;
  }

  /** Bytes of readable records on disk, headers included (the sum of segment sizes). */
  get byteSize(): number {
    return this.#files.bytes;
  }

  /** Number of readable records, exact (offsets may have gaps after a crash cut a sealed segment). */
  get recordCount(): number {
    return this.#files.records;
  }

  /** Number of segment files, the active one included. */
  get segmentCount(): number {
    return this.#files.segments.length;
  }

  /**
   * Appends a batch of records with consecutive offsets, all with the same
   * timestamp. The batch is written with one `write` (with other batches
   * waiting in the queue), never split across segments, and resolves after
   * the write, or after the `fdatasync` that covers it under
   * `fsync: "always"`. The bodies are copied before the promise resolves, but
   * not synchronously: do not change them until it settles.
   *
   * @param bodies The record bodies; an empty array resolves with `last < first`.
   * @param timestamp Milliseconds since the epoch; defaults to the clock's now.
   * @returns The offsets given to the first and last record.
   * @throws {MbError} `STORAGE_FULL` when the batch would pass
   * `maxBytesOnDisk` (nothing is written); `STORAGE_FAILED` when the write or
   * sync fails, the log has failed before, or it is closed;
   * `INVALID_ARGUMENT` for a bad body or timestamp.
   *
   * @example Concurrent appends get contiguous offsets in call order
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "always" });
   *   const results = await Promise.all([
   *     log.append([new Uint8Array([1])]),
   *     log.append([new Uint8Array([2]), new Uint8Array([3])]),
   *   ]);
   *   assert.deepEqual(results, [{ first: 0, last: 0 }, { first: 1, last: 2 }]);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  append(bodies: Uint8Array[], timestamp?: number): Promise<SegmentLogAppended> {
    if (this.#queue.closed) return Promise.reject(this.#queue.closedError("append to"));
    if (!Array.isArray(bodies)) {
      return Promise.reject(invalid("Cannot append: bodies is not an array"));
    }
    const ts = timestamp ?? this.#files.now();
    const size = batchSize(bodies, ts);
    if (size instanceof MbError) return Promise.reject(size);
    return this.#queue.append(bodies, ts, size);
  }

  /**
   * Syncs (`fdatasync`) everything appended before this call, whatever the
   * fsync policy.
   *
   * @returns A promise that resolves once the data is on disk.
   * @throws {MbError} `STORAGE_FAILED` when the sync fails (the log is then
   * failed) or the log is closed.
   *
   * @example
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "never" });
   *   await log.append([new Uint8Array(8)]);
   *   await log.flush();
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  flush(): Promise<void> {
    return this.#queue.flush();
  }

  /**
   * Reads records in offset order, starting at the first offset at or after
   * `fromOffset` that still exists (retention may have removed earlier ones),
   * up to `maxRecords` records and `maxBytes` body bytes. At least one record
   * is returned when one exists at or after `fromOffset`; none when
   * `fromOffset >= nextOffset`. Reads go to disk through the sparse index.
   *
   * @param fromOffset The offset to start at.
   * @param options The bounds.
   * @returns The records, possibly none.
   * @throws {MbError} `STORAGE_FAILED` when a file cannot be read or the
   * first record to return is corrupt (records before a corrupt one are
   * returned first); `INVALID_ARGUMENT` for a bad offset or bound.
   *
   * @example Read from the middle, a page at a time
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "never" });
   *   await log.append(Array.from({ length: 10 }, (_, i) => new Uint8Array([i])));
   *   const page = await log.read(4, { maxRecords: 3 });
   *   assert.deepEqual(page.map((r) => r.offset), [4, 5, 6]);
   *   assert.deepEqual(await log.read(10), []);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  async read(fromOffset: number, options: SegmentLogReadOptions = {}): Promise<LogRecord[]> {
    if (this.#queue.closed) throw this.#queue.closedError("read from");
    const maxRecords = options.maxRecords ?? DEFAULT_READ_MAX_RECORDS;
    const maxBytes = options.maxBytes ?? DEFAULT_READ_MAX_BYTES;
    checkRead(fromOffset, maxRecords, maxBytes);
    return await readLog(this.#files, fromOffset, { maxRecords, maxBytes, verify: this.#verify });
  }

  /**
   * Deletes whole old segments, oldest first, never the active one. A segment
   * goes only when all of its records are beyond a limit: when the log would
   * still hold at least `maxRecords` records (or `maxBytes` bytes) without
   * it, or when its newest record is older than `maxAgeMs`. So the log keeps
   * at least what the limits ask for, and at most one segment more; a stream
   * that needs an exact count hides the surplus by offset. Empty sealed
   * segments are always deleted. Call `roll()` first to let a quiet active
   * segment expire too.
   *
   * @param limits The limits; with none set, only empty segments go.
   * @returns What was removed, and the new first offset.
   * @throws {MbError} `STORAGE_FAILED` when a file cannot be deleted.
   *
   * @example Keep at least 3 records in segments of one record each
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 1 });
   *   for (let i = 0; i < 5; i++) await log.append([new Uint8Array([i])]);
   *   const removed = await log.applyRetention({ maxRecords: 3 });
   *   assert.equal(removed.records, 2);
   *   assert.equal(log.firstOffset, 2);
   *   assert.equal((await log.read(0))[0].offset, 2);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  applyRetention(limits: SegmentLogRetention): Promise<SegmentLogRemoved> {
    const error = checkRetention(limits);
    if (error !== undefined) return Promise.reject(error);
    const { maxRecords, maxBytes, maxAgeMs } = limits;
    const files = this.#files;
    const cutoff = maxAgeMs === undefined ? -Infinity : files.now() - maxAgeMs;
    return this.#queue.task(
      "apply retention to",
      () =>
        files.removeOldest((seg) =>
          seg.count === 0 ||
          (maxRecords !== undefined && files.records - seg.count >= maxRecords) ||
          (maxBytes !== undefined && files.bytes - seg.size >= maxBytes) ||
          seg.maxTimestamp < cutoff
        ),
    );
  }

  /**
   * Deletes whole old segments whose records all have offsets below
   * `offset`, oldest first, never the active one: what a queue calls once
   * every message below `offset` is settled.
   *
   * @param offset The first offset that must be kept.
   * @returns What was removed, and the new first offset.
   * @throws {MbError} `STORAGE_FAILED` when a file cannot be deleted;
   * `INVALID_ARGUMENT` for an offset that is not a non-negative integer.
   *
   * @example
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 1 });
   *   for (let i = 0; i < 4; i++) await log.append([new Uint8Array([i])]);
   *   await log.removeBefore(2);
   *   assert.equal(log.firstOffset, 2);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  removeBefore(offset: number): Promise<SegmentLogRemoved> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      return Promise.reject(invalid(`Cannot remove records before ${offset}: not an offset`));
    }
    return this.#queue.task(
      "remove old records from",
      () => this.#files.removeOldest((seg) => seg.base + seg.count <= offset),
    );
  }

  /**
   * Deletes every record (a purge) and keeps the offsets going: the next
   * append gets the same offset it would have got, also after a reopen. The
   * active segment is rolled first, so a crash in between leaves a log that
   * recovers to a suffix of the old one.
   *
   * @returns What was removed.
   * @throws {MbError} `STORAGE_FAILED` when a file cannot be created or deleted.
   *
   * @example
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "never" });
   *   await log.append([new Uint8Array(1), new Uint8Array(1)]);
   *   await log.truncateAll();
   *   assert.equal(log.recordCount, 0);
   *   assert.deepEqual(await log.append([new Uint8Array(1)]), { first: 2, last: 2 });
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  truncateAll(): Promise<SegmentLogRemoved> {
    return this.#queue.task("truncate", async () => {
      await this.#files.seal();
      return await this.#files.removeOldest(() => true);
    });
  }

  /**
   * Seals the active segment and starts a new one, if the active one holds
   * any record, so that retention can delete it.
   *
   * @returns A promise that resolves once the new segment exists.
   * @throws {MbError} `STORAGE_FAILED` when the new file cannot be created.
   *
   * @example
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   await using log = await SegmentLog.open(dir, { fsync: "never" });
   *   await log.append([new Uint8Array(1)]);
   *   await log.roll();
   *   assert.equal(log.segmentCount, 2);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  roll(): Promise<void> {
    return this.#queue.task("roll", () => this.#files.seal());
  }

  /**
   * Waits for queued appends, syncs, and closes the active file. Later calls
   * return the same promise; other methods then reject with `STORAGE_FAILED`.
   *
   * @returns A promise that resolves once the log is closed.
   * @throws {MbError} `STORAGE_FAILED` when the final sync fails (the file is
   * closed anyway).
   *
   * @example
   * ```ts
   * import { SegmentLog } from "./segment_log.ts";
   *
   * const dir = await Deno.makeTempDir();
   * const log = await SegmentLog.open(dir);
   * await log.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  close(): Promise<void> {
    return this.#queue.close();
  }

  /** Closes the log; see {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
