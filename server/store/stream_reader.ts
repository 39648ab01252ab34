// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { readU16, readUtf8 } from "../../protocol/_bytes.ts";
import { MbError } from "../../protocol/errors.ts";
import { matchTopic } from "../../protocol/topic.ts";
import type { AppendedCallback } from "./_append_batcher.ts";
import type { DurableLog } from "./durable_log.ts";
import type { LogRecord } from "./_types.ts";
import type { DurableSink } from "./sink.ts";

const logger = getLogger(["mb", "stream"]);

/** Most records one read from the log returns: a reader holds at most one such page. */
const PAGE_RECORDS = 1024;
/** Most body bytes one read from the log returns. */
const PAGE_BYTES = 1024 * 1024;

/**
 * What a {@linkcode StreamReader} reads from: its stream. `Stream`
 * implements it; nothing else needs to.
 */
export interface StreamReaderSource {
  /** The stream's name, for logs. */
  readonly name: string;
  /** The stream's log. */
  readonly log: DurableLog;
  /** The oldest offset readers may see (retention by count hides older records). */
  visibleFirst(): number;
  /**
   * Registers a reader: `offer` is then called with every batch the stream
   * stores, in offset order, until {@linkcode StreamReaderSource.detach}.
   */
  attach(reader: StreamReader, offer: AppendedCallback): void;
  /** Unregisters a reader. */
  detach(reader: StreamReader): void;
}

/** Where and how a new {@linkcode StreamReader} starts. */
export interface StreamReaderInit {
  /** The connection that receives the messages. */
  sink: DurableSink;
  /** The reader's subscription id on that connection. */
  sid: number;
  /** Topic pattern the messages must match; `""` for all. */
  pattern: string;
  /** Messages it may deliver before more credit is added; at least 1. */
  credit: number;
  /** The first offset to deliver (or to search from, with `startTime`). */
  next: number;
  /**
   * Start at the first record at or after `next` stored at this time or
   * later (milliseconds since the epoch), found by a binary search.
   *
   * @default {undefined}
   */
  startTime?: number;
}

/**
 * One reader of a stream: delivers the stream's records to a connection in
 * offset order, exactly once each, from its start position and then live,
 * as long as it has credit and the connection has room.
 *
 * A reader that is behind reads the log a page at a time (at most 1024
 * records and 1 MiB); one that has caught up takes each stored batch
 * straight from the stream, without reading the log. It never holds more
 * than one page, whatever the stream's size. When its credit runs out or
 * the connection refuses a message, it stops, and resumes from the log when
 * credit is added or the connection becomes writable. Records removed by
 * retention under a slow reader are skipped. A failed read is logged and
 * closes the reader.
 *
 * Readers are made by `Stream.subscribe`.
 *
 * @example Credit bounds what a reader delivers
 * ```ts
 * import { Stream } from "./stream.ts";
 * import { MemoryLog } from "./memory_log.ts";
 * import type { DurableSink } from "./sink.ts";
 * import assert from "node:assert/strict";
 *
 * const stream = new Stream({ name: "s", topics: ["#"] }, new MemoryLog());
 * for (let i = 0; i < 5; i++) stream.capture(new Uint8Array([0, 1, 97, 0, 0, 0, 0, i]));
 * await stream.whenStored();
 *
 * const got: number[] = [];
 * let wanted = Promise.withResolvers<void>();
 * const sink: DurableSink = {
 *   id: 1,
 *   closed: false,
 *   streamDeliver(_sid, offset) {
 *     got.push(offset);
 *     if (got.length === 2 || got.length === 5) wanted.resolve();
 *     return true;
 *   },
 *   queueDeliver() {},
 *   onWritable: (wake) => wake(),
 * };
 * const reader = stream.subscribe(sink, 1, "", { kind: "first" }, 2);
 * await wanted.promise;
 * assert.deepEqual(got, [0, 1]);
 * assert.equal(reader.credit, 0);
 *
 * wanted = Promise.withResolvers<void>();
 * reader.addCredit(10);
 * await wanted.promise;
 * assert.deepEqual(got, [0, 1, 2, 3, 4]);
 *
 * reader.close();
 * assert.equal(stream.info().readers, 0);
 * await stream.close();
 * ```
 */
export class StreamReader {
  /** The reader's subscription id on its connection. */
  readonly sid: number;
  readonly #source: StreamReaderSource;
  readonly #sink: DurableSink;
  readonly #pattern: string;
  #next: number;
  #credit: number;
  #pumping = false;
  #blocked = false;
  #closed = false;

  /**
   * Attaches a reader to `source` and starts it. Nothing is delivered
   * before the constructor returns.
   *
   * @param source The stream.
   * @param init The connection, subscription id, filter, credit and start.
   */
  constructor(source: StreamReaderSource, init: StreamReaderInit) {
    this.sid = init.sid;
    this.#source = source;
    this.#sink = init.sink;
    this.#pattern = init.pattern;
    this.#next = init.next;
    this.#credit = init.credit;
    source.attach(this, (first, bodies, timestamp) => this.#offer(first, bodies, timestamp));
    if (init.startTime !== undefined) this.#pump(init.startTime);
    else this.#kick();
  }

  /**
   * The offset of the next record this reader will consider: never below
   * the oldest record readers may see (after a purge or retention).
   */
  get nextOffset(): number {
    return Math.max(this.#next, this.#source.visibleFirst());
  }

  /** Messages the reader may still deliver. */
  get credit(): number {
    return this.#credit;
  }

  /** `true` once the reader is closed (by {@linkcode close}, its stream, or a failed read). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Lets the reader deliver `n` more messages, and resumes it if it was
   * waiting for credit.
   *
   * @param n The added credit.
   * @throws {MbError} `INVALID_ARGUMENT` when `n` is not an integer >= 1.
   *
   * @example
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
   * const reader = stream.subscribe(sink, 1, "", { kind: "new" }, 1);
   * reader.addCredit(9);
   * assert.equal(reader.credit, 10);
   * assert.throws(() => reader.addCredit(0), { code: "INVALID_ARGUMENT" });
   * await stream.close();
   * ```
   */
  addCredit(n: number): void {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new MbError("INVALID_ARGUMENT", `Cannot add credit ${n}: not an integer >= 1`);
    }
    if (this.#closed) return;
    this.#credit = Math.min(this.#credit + n, Number.MAX_SAFE_INTEGER);
    this.#kick();
  }

  /**
   * Detaches the reader from its stream: nothing more is delivered, and a
   * read in progress is dropped. Idempotent.
   *
   * @example
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
   * const reader = stream.subscribe(sink, 1, "", { kind: "new" }, 1);
   * reader.close();
   * assert.ok(reader.closed);
   * assert.equal(stream.info().readers, 0);
   * await stream.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.detach(this);
  }

  /** Starts a pump if the reader can deliver and is behind the log. */
  #kick(): void {
    if (this.#closed || this.#pumping || this.#blocked || this.#credit <= 0) return;
    if (this.#next < this.#source.log.nextOffset) this.#pump(undefined);
  }

  /** Takes a batch the stream just stored, when the reader is live at it. */
  #offer(first: number, bodies: Uint8Array[], timestamp: number): void {
    if (this.#closed || this.#pumping || this.#blocked || this.#credit <= 0) return;
    let i = this.#next - first;
    if (i >= bodies.length) return;
    if (i < 0) {
      this.#kick();
      return;
    }
    const sink = this.#sink;
    for (; i < bodies.length; i++) {
      if (this.#credit <= 0) return;
      const body = bodies[i];
      const offset = first + i;
      if (this.#pattern !== "" && !this.#matches(body)) {
        this.#next = offset + 1;
        continue;
      }
      if (!sink.streamDeliver(this.sid, offset, timestamp, body)) {
        this.#block();
        return;
      }
      this.#next = offset + 1;
      this.#credit--;
      if (this.#closed || this.#pumping) return;
    }
  }

  /**
   * Reads the log from `#next` a page at a time and delivers, while the
   * reader has credit and room and is behind. With `startTime`, first finds
   * where to start. Only one runs at a time; `#pumping` is set and cleared
   * synchronously, so a batch offered while it runs is ignored and read
   * from the log instead.
   */
  async #pump(startTime: number | undefined): Promise<void> {
    this.#pumping = true;
    const log = this.#source.log;
    try {
      if (startTime !== undefined) {
        const at = await this.#seek(startTime);
        if (this.#closed) return;
        this.#next = at;
      }
      while (!this.#closed && !this.#blocked && this.#credit > 0) {
        const visible = this.#source.visibleFirst();
        if (this.#next < visible) this.#next = visible;
        if (this.#next >= log.nextOffset) break;
        const page = await log.read(this.#next, {
          maxRecords: Math.min(this.#credit, PAGE_RECORDS),
          maxBytes: PAGE_BYTES,
        });
        if (page.length === 0) break;
        this.#deliverPage(page);
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#pumping = false;
    }
  }

  #deliverPage(page: LogRecord[]): void {
    const sink = this.#sink;
    const visible = this.#source.visibleFirst();
    for (let i = 0; i < page.length; i++) {
      const record = page[i];
      const offset = record.offset;
      // Already delivered, or removed (purge, retention) since the read.
      if (offset < this.#next || offset < visible) continue;
      if (this.#closed || this.#credit <= 0) return;
      if (this.#pattern !== "" && !this.#matches(record.body)) {
        this.#next = offset + 1;
        continue;
      }
      if (!sink.streamDeliver(this.sid, offset, record.timestamp, record.body)) {
        this.#block();
        return;
      }
      this.#next = offset + 1;
      this.#credit--;
    }
  }

  /** The first offset at or after `#next` whose record was stored at `time` or later. */
  async #seek(time: number): Promise<number> {
    const log = this.#source.log;
    let lo = this.#next;
    let hi = log.nextOffset;
    while (lo < hi && !this.#closed) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const record = (await log.read(mid, { maxRecords: 1 }))[0];
      if (record === undefined || record.timestamp >= time) hi = mid;
      else lo = record.offset + 1;
    }
    return lo;
  }

  #matches(body: Uint8Array): boolean {
    const end = 2 + readU16(body, 0);
    return matchTopic(this.#pattern, readUtf8(body, 2, end));
  }

  /** The connection refused a message: wait until it can take more. */
  #block(): void {
    this.#blocked = true;
    if (this.#sink.closed) {
      this.close();
      return;
    }
    this.#sink.onWritable(() => {
      this.#blocked = false;
      if (this.#sink.closed) this.close();
      else this.#kick();
    });
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    logger.error(
      "Stream {stream} stopped reader {sid} of connection {connection}: {error}",
      { stream: this.#source.name, sid: this.sid, connection: this.#sink.id, error },
    );
    this.close();
  }
}
