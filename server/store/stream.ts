// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import type { StreamConfig, StreamInfo } from "../../protocol/durable.ts";
import { MbError } from "../../protocol/errors.ts";
import type { StreamStart } from "../../protocol/frames.ts";
import { validatePattern } from "../../protocol/topic.ts";
import { AppendBatcher, type AppendedCallback, type StoredCallback } from "./_append_batcher.ts";
import type { DurableLog } from "./durable_log.ts";
import type { SegmentLogRetention } from "./_types.ts";
import type { DurableSink } from "./sink.ts";
import { StreamReader, type StreamReaderSource } from "./stream_reader.ts";

export type { StoredCallback } from "./_append_batcher.ts";
export { StreamReader } from "./stream_reader.ts";

const logger = getLogger(["mb", "stream"]);
/** Least time between retention runs started by appends. */
const RETENTION_CHECK_MS = 100;

/** Options for {@linkcode Stream}. */
export interface StreamOptions {
  /**
   * The clock, in milliseconds since the epoch: it stamps stored messages
   * and decides when the active data is old enough to roll.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * A stream: an append-only, retained sequence of messages in a
 * {@linkcode DurableLog}, read by any number of readers, each from its own
 * position and then live.
 *
 * - **Capture** is synchronous: {@linkcode Stream.capture} copies the
 *   message section and batches it with the rest of the tick (one append
 *   per tick, see `AppendBatcher`).
 * - **Readers** ({@linkcode Stream.subscribe}) replay from the log, then
 *   take each stored batch as it is stored, with no gap and no duplicate
 *   between the two. Each has credit: it delivers at most that many messages
 *   until more is added, and it stops while its connection is full.
 * - **Retention** ({@linkcode Stream.enforceRetention}) applies the
 *   configured limits to the log; with `maxMsgs`, records beyond the limit
 *   that the log still holds (a disk log drops whole segments) are hidden
 *   from readers and from {@linkcode Stream.info}.
 *
 * @example Capture, then read from the first message with credit 10
 * ```ts
 * import { Stream } from "./stream.ts";
 * import { MemoryLog } from "./memory_log.ts";
 * import type { DurableSink } from "./sink.ts";
 * import { encodeMessageSection } from "../../protocol/encode.ts";
 * import assert from "node:assert/strict";
 *
 * const stream = new Stream({ name: "orders", topics: ["orders/#"] }, new MemoryLog());
 * for (let i = 0; i < 3; i++) {
 *   stream.capture(encodeMessageSection("orders/new", "", undefined, new Uint8Array([i])));
 * }
 * await stream.whenStored();
 *
 * const got: number[] = [];
 * const { promise: done, resolve } = Promise.withResolvers<void>();
 * const sink: DurableSink = {
 *   id: 1,
 *   closed: false,
 *   streamDeliver(_sid, offset) {
 *     got.push(offset);
 *     if (got.length === 3) resolve();
 *     return true;
 *   },
 *   queueDeliver() {},
 *   onWritable(wake) {
 *     wake();
 *   },
 * };
 * stream.subscribe(sink, 1, "", { kind: "first" }, 10);
 * await done;
 * assert.deepEqual(got, [0, 1, 2]);
 * assert.equal(stream.info().readers, 1);
 * await stream.close();
 * ```
 */
export class Stream implements AsyncDisposable {
  /** The stream's name. */
  readonly name: string;
  readonly #config: StreamConfig;
  readonly #log: DurableLog;
  readonly #now: () => number;
  readonly #batcher: AppendBatcher;
  readonly #readers = new Map<StreamReader, AppendedCallback>();
  readonly #source: StreamReaderSource;
  #retention: Promise<void> | undefined;
  #retainAgain = false;
  /** Timestamp of the oldest record appended since the last roll, if known. */
  #activeSince: number | undefined;
  /** When appends last started a retention run. */
  #retainedAt = -Infinity;
  #closing: Promise<void> | undefined;

  /**
   * Makes a stream over `log`, which may already hold records (a reopened
   * store).
   *
   * @param config The configuration, already validated and normalized.
   * @param log The log; the stream owns it and closes it.
   * @param options The clock.
   */
  constructor(config: StreamConfig, log: DurableLog, options: StreamOptions = {}) {
    this.name = config.name;
    this.#config = { ...config, topics: [...config.topics] };
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#activeSince = log.recordCount > 0 ? this.#now() : undefined;
    this.#batcher = new AppendBatcher(
      log,
      (first, bodies, timestamp) => this.#onAppended(first, bodies, timestamp),
      this.#now,
    );
    const readers = this.#readers;
    this.#source = {
      name: config.name,
      log,
      visibleFirst: () => this.#visibleFirst(),
      attach: (reader, offer) => void readers.set(reader, offer),
      detach: (reader) => void readers.delete(reader),
    };
  }

  /** A copy of the stream's configuration. */
  get config(): StreamConfig {
    return { ...this.#config, topics: [...this.#config.topics] };
  }

  /** Bytes of captured messages not yet stored. */
  get pendingBytes(): number {
    return this.#batcher.pendingBytes;
  }

  /**
   * Stores a message: copies it and appends it with the other messages of
   * this tick. Hot path: synchronous, no promise per message.
   *
   * @param message The message section (topic, reply-to, headers, payload);
   * only read during the call.
   * @param onStored Told the message's offset once stored, or the error
   * (`STORAGE_FAILED`, `STORAGE_FULL`) with offset -1.
   *
   * @example
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const stream = new Stream({ name: "s", topics: ["#"] }, new MemoryLog());
   * const offsets: number[] = [];
   * stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]), (_error, offset) => offsets.push(offset));
   * stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]), (_error, offset) => offsets.push(offset));
   * await stream.whenStored();
   * assert.deepEqual(offsets, [0, 1]);
   * await stream.close();
   * ```
   */
  capture(message: Uint8Array, onStored?: StoredCallback): void {
    this.#batcher.add(message, onStored);
  }

  /**
   * Waits until every message captured so far is stored (or failed).
   *
   * @returns A promise that resolves when nothing is pending.
   *
   * @example
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const stream = new Stream({ name: "s", topics: ["#"] }, new MemoryLog());
   * stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]));
   * await stream.whenStored();
   * assert.equal(stream.info().messages, 1);
   * await stream.close();
   * ```
   */
  whenStored(): Promise<void> {
    return this.#batcher.whenIdle();
  }

  /**
   * Attaches a reader that delivers the stream's messages to `sink` from
   * `start`, then live, at most `credit` messages until more is added.
   * Nothing is delivered before this returns.
   *
   * Start positions: `new`, the next message stored; `first`, the oldest
   * message held; `last`, the newest one (or the next, when empty);
   * `offset`, that offset (one below the oldest held starts at the oldest,
   * the next offset is like `new`); `time`, the first message stored at that
   * time or later.
   *
   * @param sink The connection.
   * @param sid The reader's subscription id on it.
   * @param pattern Only messages whose topic matches it are delivered
   * (others cost no credit); `""` for all.
   * @param start Where to start.
   * @param credit Messages it may deliver before more credit is added.
   * @returns The reader; close it to detach.
   * @throws {MbError} `OFFSET_OUT_OF_RANGE` for an offset past the next one;
   * `INVALID_ARGUMENT` for a bad offset, time or credit; `TOPIC_INVALID`
   * for a bad pattern; `STREAM_UNKNOWN` when the stream is closed.
   *
   * @example Start past the end
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import type { DurableSink } from "./sink.ts";
   * import assert from "node:assert/strict";
   *
   * const stream = new Stream({ name: "s", topics: ["#"] }, new MemoryLog());
   * const sink: DurableSink = {
   *   id: 1,
   *   closed: false,
   *   streamDeliver: () => true,
   *   queueDeliver() {},
   *   onWritable: (wake) => wake(),
   * };
   * assert.throws(
   *   () => stream.subscribe(sink, 1, "", { kind: "offset", value: 5 }, 10),
   *   { code: "OFFSET_OUT_OF_RANGE" },
   * );
   * const reader = stream.subscribe(sink, 1, "", { kind: "offset", value: 0 }, 10);
   * assert.equal(reader.nextOffset, 0);
   * await stream.close();
   * ```
   */
  subscribe(
    sink: DurableSink,
    sid: number,
    pattern: string,
    start: StreamStart,
    credit: number,
  ): StreamReader {
    if (this.#closing !== undefined) {
      throw new MbError("STREAM_UNKNOWN", `Cannot read stream "${this.name}": it is closed`);
    }
    if (!Number.isSafeInteger(credit) || credit < 1) {
      throw new MbError("INVALID_ARGUMENT", `Cannot read stream: credit ${credit} is not >= 1`);
    }
    if (pattern !== "") validatePattern(pattern);
    const log = this.#log;
    let next: number;
    let startTime: number | undefined;
    switch (start.kind) {
      case "new":
        next = log.nextOffset;
        break;
      case "first":
        next = this.#visibleFirst();
        break;
      case "last":
        next = log.recordCount > 0 ? log.nextOffset - 1 : log.nextOffset;
        break;
      case "offset": {
        const value = start.value;
        if (!Number.isSafeInteger(value) || value < 0) {
          throw new MbError(
            "INVALID_ARGUMENT",
            `Cannot read stream "${this.name}": offset ${value} is not an integer >= 0`,
          );
        }
        if (value > log.nextOffset) {
          throw new MbError(
            "OFFSET_OUT_OF_RANGE",
            `Cannot read stream "${this.name}" from offset ${value}: the next offset is ${log.nextOffset}`,
          );
        }
        next = Math.max(value, this.#visibleFirst());
        break;
      }
      case "time":
        if (!Number.isFinite(start.value)) {
          throw new MbError(
            "INVALID_ARGUMENT",
            `Cannot read stream "${this.name}": time ${start.value} is not a number`,
          );
        }
        next = this.#visibleFirst();
        startTime = start.value;
        break;
      default:
        throw new MbError(
          "INVALID_ARGUMENT",
          `Cannot read stream "${this.name}": unknown start ${JSON.stringify(start)}`,
        );
    }
    return new StreamReader(this.#source, { sink, sid, pattern, credit, next, startTime });
  }

  /**
   * The stream's configuration and state.
   *
   * @returns A fresh snapshot.
   *
   * @example
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const stream = new Stream({ name: "s", topics: ["#"], maxMsgs: 2 }, new MemoryLog());
   * for (let i = 0; i < 3; i++) stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]));
   * await stream.whenStored();
   * const info = stream.info();
   * assert.equal(info.messages, 2);
   * assert.equal(info.firstOffset, 1);
   * assert.equal(info.nextOffset, 3);
   * await stream.close();
   * ```
   */
  info(): StreamInfo {
    const log = this.#log;
    const max = this.#config.maxMsgs;
    const count = log.recordCount;
    return {
      ...this.config,
      messages: max !== undefined && max > 0 && count > max ? max : count,
      bytes: log.byteSize,
      firstOffset: this.#visibleFirst(),
      nextOffset: log.nextOffset,
      readers: this.#readers.size,
    };
  }

  /**
   * Removes every message; offsets keep counting. Readers behind the next
   * offset continue from it.
   *
   * @returns The number of records removed.
   * @throws {MbError} `STORAGE_FAILED` when the log fails or is closed.
   *
   * @example
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const stream = new Stream({ name: "s", topics: ["#"] }, new MemoryLog());
   * stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]));
   * await stream.whenStored();
   * assert.equal(await stream.purge(), 1);
   * assert.equal(stream.info().messages, 0);
   * assert.equal(stream.info().firstOffset, 1);
   * await stream.close();
   * ```
   */
  async purge(): Promise<number> {
    const removed = await this.#log.truncateAll();
    return removed.records;
  }

  /**
   * Applies the configured limits (`maxMsgs`, `maxBytes`, `maxAgeMs`; 0 or
   * absent for none) to the log, rolling its active data first when that is
   * older than `maxAgeMs`. The store calls it periodically; the stream also
   * starts it after an append that passes a count or byte limit. Calls made
   * while one runs share it (and make it run once more).
   *
   * @returns A promise that resolves when the log has been trimmed.
   * @throws {MbError} `STORAGE_FAILED` when the log fails.
   *
   * @example
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * let now = 1_000_000;
   * const log = new MemoryLog({ now: () => now });
   * const stream = new Stream({ name: "s", topics: ["#"], maxAgeMs: 1000 }, log, { now: () => now });
   * stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]));
   * await stream.whenStored();
   * now += 2000;
   * await stream.enforceRetention();
   * assert.equal(log.recordCount, 0);
   * await stream.close();
   * ```
   */
  enforceRetention(): Promise<void> {
    if (this.#closing !== undefined) return Promise.resolve();
    if (this.#retention !== undefined) {
      this.#retainAgain = true;
      return this.#retention;
    }
    this.#retention = this.#retain();
    return this.#retention;
  }

  /**
   * Closes the stream: its readers stop, the messages already captured are
   * stored (later captures fail with `STORAGE_FAILED`), and the log is
   * closed. Later calls return the same promise.
   *
   * @returns A promise that resolves once the log is closed.
   * @throws {MbError} `STORAGE_FAILED` when the log's final sync fails.
   *
   * @example
   * ```ts
   * import { Stream } from "./stream.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const stream = new Stream({ name: "s", topics: ["#"] }, new MemoryLog());
   * await stream.close();
   * stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0]), (error) => {
   *   assert.equal(error?.code, "STORAGE_FAILED");
   * });
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes the stream; see {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    const stored = this.#batcher.close();
    const readers = [...this.#readers.keys()];
    for (let i = 0; i < readers.length; i++) readers[i].close();
    await stored;
    while (this.#retention !== undefined) await this.#retention.catch(() => {});
    await this.#log.close();
  }

  /** The oldest offset readers see: with `maxMsgs`, records beyond it are hidden. */
  #visibleFirst(): number {
    const log = this.#log;
    const max = this.#config.maxMsgs;
    const first = log.firstOffset;
    if (max === undefined || max <= 0) return first;
    return Math.max(first, log.nextOffset - max);
  }

  #onAppended(first: number, bodies: Uint8Array[], timestamp: number): void {
    this.#activeSince ??= timestamp;
    for (const offer of this.#readers.values()) offer(first, bodies, timestamp);
    if (this.#retention !== undefined || this.#closing !== undefined) return;
    // A disk log stays over maxMsgs by up to a segment: check at most every
    // RETENTION_CHECK_MS, not after every batch.
    if (timestamp - this.#retainedAt < RETENTION_CHECK_MS) return;
    const { maxMsgs, maxBytes } = this.#config;
    const log = this.#log;
    if (
      (maxMsgs !== undefined && maxMsgs > 0 && log.recordCount > maxMsgs) ||
      (maxBytes !== undefined && maxBytes > 0 && log.byteSize > maxBytes)
    ) {
      this.#retainedAt = timestamp;
      this.enforceRetention().catch((error) => {
        logger.error("Cannot apply retention to stream {stream}: {error}", {
          stream: this.name,
          error,
        });
      });
    }
  }

  async #retain(): Promise<void> {
    try {
      do {
        this.#retainAgain = false;
        await this.#retainOnce();
      } while (this.#retainAgain && this.#closing === undefined);
    } finally {
      this.#retention = undefined;
    }
  }

  async #retainOnce(): Promise<void> {
    const { maxMsgs, maxBytes, maxAgeMs } = this.#config;
    const limits: SegmentLogRetention = {};
    if (maxMsgs !== undefined && maxMsgs > 0) limits.maxRecords = maxMsgs;
    if (maxBytes !== undefined && maxBytes > 0) limits.maxBytes = maxBytes;
    if (maxAgeMs !== undefined && maxAgeMs > 0) {
      limits.maxAgeMs = maxAgeMs;
      const since = this.#activeSince;
      if (since !== undefined && since < this.#now() - maxAgeMs) {
        // Seal the active data so that it can expire as a whole. Appends
        // that land before the roll only make the next roll earlier.
        this.#activeSince = undefined;
        await this.#log.roll();
      }
    }
    if (limits.maxRecords === undefined && limits.maxBytes === undefined && !limits.maxAgeMs) {
      return;
    }
    await this.#log.applyRetention(limits);
  }
}
