// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { readU16 } from "../../protocol/_bytes.ts";
import type { StreamConfig } from "../../protocol/durable.ts";
import { encodeMessageSection } from "../../protocol/encode.ts";
import { MbError } from "../../protocol/errors.ts";
import type { DurableLog } from "./durable_log.ts";
import { MemoryLog } from "./memory_log.ts";
import { SegmentLog, type SegmentLogOptions } from "./segment_log.ts";
import type { DurableSink } from "./sink.ts";
import { Stream } from "./stream.ts";
import type {
  LogRecord,
  SegmentLogAppended,
  SegmentLogReadOptions,
  SegmentLogRemoved,
  SegmentLogRetention,
} from "./_types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------- helpers

function message(topic: string, i: number): Uint8Array {
  return encodeMessageSection(topic, "", undefined, encoder.encode(String(i)));
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

function isMbError(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof MbError, `expected MbError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

/** A clock the test moves by hand. */
function manualClock(
  start = 1_700_000_000_000,
): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Rejects with an error naming `name` when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, name: string, ms = 15_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${name}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending microtasks and a few macrotask turns run (reads of a memory log finish in them). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

interface Delivery {
  sid: number;
  offset: number;
  timestamp: number;
  topic: string;
  payload: string;
}

function decodeSection(body: Uint8Array): { topic: string; payload: string } {
  const t = readU16(body, 0);
  const r = readU16(body, 2 + t);
  const h = readU16(body, 4 + t + r);
  return {
    topic: decoder.decode(body.subarray(2, 2 + t)),
    payload: decoder.decode(body.subarray(6 + t + r + h)),
  };
}

/** A connection that records deliveries; `room` bounds what it takes before it refuses. */
class FakeSink implements DurableSink {
  readonly id = 7;
  closed = false;
  readonly deliveries: Delivery[] = [];
  /** Messages it takes before refusing (until `drain`). */
  room = Infinity;
  /** Called after each accepted delivery. */
  onDeliver: ((delivery: Delivery) => void) | undefined;
  /** When set, a refused sink drains itself to this room on the next macrotask. */
  autoDrain: number | undefined;
  #wakes: (() => void)[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  streamDeliver(sid: number, offset: number, timestamp: number, message: Uint8Array): boolean {
    if (this.closed || this.room <= 0) return false;
    this.room--;
    const delivery = { sid, offset, timestamp, ...decodeSection(message) };
    this.deliveries.push(delivery);
    this.onDeliver?.(delivery);
    const waiters = this.#waiters;
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (this.deliveries.length >= waiters[i].count) {
        waiters[i].resolve();
        waiters.splice(i, 1);
      }
    }
    return true;
  }

  queueDeliver(): void {
    throw new Error("unexpected queue delivery");
  }

  onWritable(wake: () => void): void {
    if (this.closed || this.room > 0) {
      wake();
      return;
    }
    this.#wakes.push(wake);
    if (this.autoDrain !== undefined && this.#wakes.length === 1) {
      const room = this.autoDrain;
      setTimeout(() => this.drain(room), 0);
    }
  }

  /** Makes room and wakes waiting readers. */
  drain(room = Infinity): void {
    this.room = room;
    const wakes = this.#wakes;
    this.#wakes = [];
    for (const wake of wakes) wake();
  }

  /** Closes the connection and wakes waiting readers. */
  close(): void {
    this.closed = true;
    this.drain(0);
  }

  get waiting(): number {
    return this.#wakes.length;
  }

  offsets(): number[] {
    return this.deliveries.map((d) => d.offset);
  }

  waitFor(count: number, name = `${count} deliveries`): Promise<void> {
    if (this.deliveries.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    return within(promise, `${name} (got ${this.deliveries.length})`);
  }
}

/** A log that forwards to another and records what the stream asks of it. */
class SpyLog implements DurableLog {
  readonly inner: DurableLog;
  readonly reads: { from: number; maxRecords: number | undefined; returned: number }[] = [];
  rolls = 0;
  retentions: SegmentLogRetention[] = [];
  running = 0;
  maxRunning = 0;
  failReads: MbError | undefined;
  /** Resolved before each applyRetention proceeds, when set. */
  gate: Promise<void> | undefined;

  constructor(inner: DurableLog) {
    this.inner = inner;
  }
  get firstOffset(): number {
    return this.inner.firstOffset;
  }
  get nextOffset(): number {
    return this.inner.nextOffset;
  }
  get recordCount(): number {
    return this.inner.recordCount;
  }
  get byteSize(): number {
    return this.inner.byteSize;
  }
  append(bodies: Uint8Array[], timestamp?: number): Promise<SegmentLogAppended> {
    return this.inner.append(bodies, timestamp);
  }
  async read(from: number, options?: SegmentLogReadOptions): Promise<LogRecord[]> {
    if (this.failReads !== undefined) throw this.failReads;
    const records = await this.inner.read(from, options);
    this.reads.push({ from, maxRecords: options?.maxRecords, returned: records.length });
    return records;
  }
  async applyRetention(limits: SegmentLogRetention): Promise<SegmentLogRemoved> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    this.retentions.push(limits);
    try {
      if (this.gate !== undefined) await this.gate;
      return await this.inner.applyRetention(limits);
    } finally {
      this.running--;
    }
  }
  removeBefore(offset: number): Promise<SegmentLogRemoved> {
    return this.inner.removeBefore(offset);
  }
  truncateAll(): Promise<SegmentLogRemoved> {
    return this.inner.truncateAll();
  }
  roll(): Promise<void> {
    this.rolls++;
    return this.inner.roll();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

type LogKind = "memory" | "segment";

/** Runs `fn` with a fresh log of each kind (a segment log in a temporary directory). */
async function withLogs(
  fn: (log: DurableLog, kind: LogKind) => Promise<void>,
  options: SegmentLogOptions = {},
): Promise<void> {
  await fn(new MemoryLog({ now: options.now }), "memory");
  const dir = await Deno.makeTempDir({ prefix: "mb_stream_" });
  try {
    const log = await SegmentLog.open(dir, { fsync: "never", ...options });
    try {
      await fn(log, "segment");
    } finally {
      await log.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function config(extra: Partial<StreamConfig> = {}): StreamConfig {
  return { name: "s", topics: ["#"], ...extra };
}

async function captureAll(stream: Stream, from: number, to: number, topic = "t"): Promise<void> {
  for (let i = from; i < to; i++) stream.capture(message(topic, i));
  await stream.whenStored();
}

function assertExactlyOnce(sink: FakeSink, from: number, to: number): void {
  const got = sink.offsets();
  assert.equal(got.length, to - from, `delivered ${got.length}, expected ${to - from}`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== from + i) {
      assert.fail(`delivery ${i} has offset ${got[i]}, expected ${from + i}`);
    }
    if (sink.deliveries[i].payload !== String(from + i)) {
      assert.fail(`offset ${from + i} carries payload ${sink.deliveries[i].payload}`);
    }
  }
}

// ---------------------------------------------------------------- replay then live

type Refill = "microtask" | "inside delivery";

async function replayThenLive(log: DurableLog, refill: Refill, blocking: boolean): Promise<void> {
  const stream = new Stream(config(), log);
  await captureAll(stream, 0, 10_000);
  const sink = new FakeSink();
  if (blocking) {
    sink.room = 150;
    sink.autoDrain = 150;
  }
  // Nothing is delivered during subscribe, so the refill can be hooked up after it.
  const reader = stream.subscribe(sink, 1, "", { kind: "offset", value: 5000 }, 100);
  let sinceRefill = 0;
  sink.onDeliver = () => {
    if (++sinceRefill < 50) return;
    sinceRefill = 0;
    if (refill === "microtask") queueMicrotask(() => reader.addCredit(50));
    else reader.addCredit(50);
  };
  const total = 20_000;
  for (let i = 10_000; i < total; i++) {
    stream.capture(message("t", i));
    if (i % 97 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    else if (i % 13 === 0) await Promise.resolve();
  }
  await stream.whenStored();
  await sink.waitFor(total - 5000, "replay then live");
  await settle();
  assertExactlyOnce(sink, 5000, total);
  assert.ok(reader.credit > 0);
  await stream.close();
}

for (const refill of ["microtask", "inside delivery"] as const) {
  for (const blocking of [false, true]) {
    Deno.test(
      `Stream reader replays from offset 5000 then goes live with no gap or duplicate while capture continues (credit refilled ${refill}${
        blocking ? ", connection often full" : ""
      })`,
      async () => {
        await withLogs((log) => replayThenLive(log, refill, blocking), { segmentBytes: 64 * 1024 });
      },
    );
  }
}

Deno.test("Stream reader that has caught up takes stored batches without reading the log", async () => {
  const log = new SpyLog(new MemoryLog());
  const stream = new Stream(config(), log);
  await captureAll(stream, 0, 10);
  const sink = new FakeSink();
  stream.subscribe(sink, 1, "", { kind: "first" }, 1000);
  await sink.waitFor(10);
  await settle();
  const reads = log.reads.length;
  await captureAll(stream, 10, 500);
  await sink.waitFor(500);
  assertExactlyOnce(sink, 0, 500);
  assert.equal(log.reads.length, reads);
  await stream.close();
});

Deno.test("Stream reader that is behind reads pages of at most 1024 records", async () => {
  const log = new SpyLog(new MemoryLog());
  const stream = new Stream(config(), log);
  await captureAll(stream, 0, 5000);
  const sink = new FakeSink();
  stream.subscribe(sink, 1, "", { kind: "first" }, 100_000);
  await sink.waitFor(5000);
  assertExactlyOnce(sink, 0, 5000);
  assert.ok(log.reads.length >= 5000 / 1024);
  for (const read of log.reads) {
    assert.ok(read.maxRecords !== undefined && read.maxRecords <= 1024);
    assert.ok(read.returned <= 1024);
  }
  await stream.close();
});

// ---------------------------------------------------------------- start positions

Deno.test("Stream subscribe starts at first, last, new, an offset or a time", async () => {
  const clock = manualClock(1_000_000);
  await withLogs(async (log, kind) => {
    const stream = new Stream(config(), log, { now: clock.now });
    const t0 = clock.now();
    for (let i = 0; i < 10; i++) {
      await captureAll(stream, i, i + 1); // one batch per message, 1 s apart
      clock.advance(1000);
    }
    const starts: [string, Parameters<Stream["subscribe"]>[3], number][] = [
      ["first", { kind: "first" }, 0],
      ["last", { kind: "last" }, 9],
      ["new", { kind: "new" }, 10],
      ["offset 4", { kind: "offset", value: 4 }, 4],
      ["offset 10", { kind: "offset", value: 10 }, 10],
      ["time at message 4", { kind: "time", value: t0 + 4000 }, 4],
      ["time between 6 and 7", { kind: "time", value: t0 + 6500 }, 7],
      ["time before all", { kind: "time", value: 0 }, 0],
      ["time after all", { kind: "time", value: t0 + 60_000 }, 10],
    ];
    const sinks: FakeSink[] = [];
    for (const [, start] of starts) {
      const sink = new FakeSink();
      sinks.push(sink);
      stream.subscribe(sink, 1, "", start, 1000);
    }
    await captureAll(stream, 10, 11);
    for (let i = 0; i < starts.length; i++) {
      const [name, , from] = starts[i];
      await sinks[i].waitFor(11 - from, `${kind} ${name}`);
    }
    await settle();
    for (let i = 0; i < starts.length; i++) {
      const [name, , from] = starts[i];
      assert.deepEqual(sinks[i].offsets(), range(from, 11), `${kind} ${name}`);
    }
    assert.equal(stream.info().readers, starts.length);
    await stream.close();
  }, { now: clock.now });
});

Deno.test("Stream subscribe on an empty stream: last and first are the next offset", async () => {
  const stream = new Stream(config(), new MemoryLog());
  const last = new FakeSink();
  const first = new FakeSink();
  assert.equal(stream.subscribe(last, 1, "", { kind: "last" }, 10).nextOffset, 0);
  assert.equal(stream.subscribe(first, 2, "", { kind: "first" }, 10).nextOffset, 0);
  await captureAll(stream, 0, 2);
  await last.waitFor(2);
  await first.waitFor(2);
  assert.deepEqual(last.offsets(), [0, 1]);
  assert.deepEqual(first.deliveries.map((d) => d.sid), [2, 2]);
  await stream.close();
});

Deno.test("Stream subscribe refuses an offset past the next with OFFSET_OUT_OF_RANGE", async () => {
  const stream = new Stream(config(), new MemoryLog());
  await captureAll(stream, 0, 3);
  const sink = new FakeSink();
  assert.throws(
    () => stream.subscribe(sink, 1, "", { kind: "offset", value: 4 }, 10),
    isMbError("OFFSET_OUT_OF_RANGE"),
  );
  assert.equal(stream.info().readers, 0);
  await stream.close();
});

Deno.test("Stream subscribe refuses bad offsets, times, credit and patterns", async () => {
  const stream = new Stream(config(), new MemoryLog());
  const sink = new FakeSink();
  const invalid = isMbError("INVALID_ARGUMENT");
  assert.throws(() => stream.subscribe(sink, 1, "", { kind: "offset", value: -1 }, 10), invalid);
  assert.throws(() => stream.subscribe(sink, 1, "", { kind: "offset", value: 0.5 }, 10), invalid);
  assert.throws(() => stream.subscribe(sink, 1, "", { kind: "time", value: NaN }, 10), invalid);
  assert.throws(() => stream.subscribe(sink, 1, "", { kind: "first" }, 0), invalid);
  assert.throws(() => stream.subscribe(sink, 1, "", { kind: "first" }, 1.5), invalid);
  assert.throws(
    () => stream.subscribe(sink, 1, "", { kind: "nope" } as unknown as { kind: "new" }, 1),
    invalid,
  );
  assert.throws(
    () => stream.subscribe(sink, 1, "a/#/b", { kind: "first" }, 1),
    isMbError("TOPIC_INVALID"),
  );
  const reader = stream.subscribe(sink, 1, "", { kind: "first" }, 1);
  assert.throws(() => reader.addCredit(0), invalid);
  assert.throws(() => reader.addCredit(2.5), invalid);
  assert.equal(stream.info().readers, 1);
  await stream.close();
});

Deno.test("Stream subscribe from an offset below the first held starts at the first held", async () => {
  const stream = new Stream(config({ maxMsgs: 5 }), new MemoryLog());
  await captureAll(stream, 0, 10);
  await stream.enforceRetention();
  const sink = new FakeSink();
  const reader = stream.subscribe(sink, 1, "", { kind: "offset", value: 0 }, 100);
  assert.equal(reader.nextOffset, 5);
  await sink.waitFor(5);
  await settle();
  assert.deepEqual(sink.offsets(), [5, 6, 7, 8, 9]);
  await stream.close();
});

// ---------------------------------------------------------------- filter, credit, flow control

Deno.test("Stream reader delivers only matching topics and they alone cost credit", async () => {
  await withLogs(async (log) => {
    const stream = new Stream(config(), log);
    for (let i = 0; i < 30; i++) stream.capture(message(i % 3 === 0 ? "a/x" : "b/x", i));
    await stream.whenStored();
    const sink = new FakeSink();
    const reader = stream.subscribe(sink, 1, "a/+", { kind: "first" }, 4);
    await sink.waitFor(4);
    await settle();
    assert.deepEqual(sink.offsets(), [0, 3, 6, 9]);
    reader.addCredit(100);
    await sink.waitFor(10);
    // Live: a filtered batch.
    for (let i = 30; i < 40; i++) stream.capture(message(i % 2 === 0 ? "a/y" : "a/y/z", i));
    await stream.whenStored();
    await sink.waitFor(15);
    await settle();
    assert.deepEqual(sink.offsets(), [
      ...range(0, 30).filter((i) => i % 3 === 0),
      30,
      32,
      34,
      36,
      38,
    ]);
    assert.ok(sink.deliveries.every((d) => d.topic.startsWith("a/")));
    await stream.close();
  });
});

Deno.test("Stream reader stops when credit runs out and resumes when credit is added", async () => {
  await withLogs(async (log) => {
    const stream = new Stream(config(), log);
    await captureAll(stream, 0, 10);
    const sink = new FakeSink();
    const reader = stream.subscribe(sink, 1, "", { kind: "first" }, 3);
    await sink.waitFor(3);
    await settle();
    assert.deepEqual(sink.offsets(), [0, 1, 2]);
    assert.equal(reader.credit, 0);
    reader.addCredit(4);
    await sink.waitFor(7);
    await settle();
    assert.deepEqual(sink.offsets(), range(0, 7));
    reader.addCredit(3);
    await sink.waitFor(10);
    // Caught up with credit 0 left: live messages wait for credit too.
    await captureAll(stream, 10, 15);
    await settle();
    assert.equal(sink.deliveries.length, 10);
    reader.addCredit(2);
    await sink.waitFor(12);
    await settle();
    assert.equal(sink.deliveries.length, 12);
    reader.addCredit(100);
    await sink.waitFor(15);
    await captureAll(stream, 15, 20);
    await sink.waitFor(20);
    assertExactlyOnce(sink, 0, 20);
    await stream.close();
  });
});

Deno.test("Stream reader pauses when the connection refuses and resumes on onWritable", async () => {
  await withLogs(async (log) => {
    const stream = new Stream(config(), log);
    await captureAll(stream, 0, 10);
    const sink = new FakeSink();
    sink.room = 4;
    stream.subscribe(sink, 1, "", { kind: "first" }, 1000);
    await sink.waitFor(4);
    await settle();
    assert.equal(sink.deliveries.length, 4);
    assert.equal(sink.waiting, 1);
    sink.drain(3);
    await sink.waitFor(7);
    await settle();
    assert.equal(sink.deliveries.length, 7);
    // Live batches while refused are not lost.
    await captureAll(stream, 10, 20);
    await settle();
    assert.equal(sink.deliveries.length, 7);
    sink.drain();
    await sink.waitFor(20);
    await captureAll(stream, 20, 25);
    await sink.waitFor(25);
    assertExactlyOnce(sink, 0, 25);
    await stream.close();
  });
});

Deno.test("Stream reader on a closed connection closes itself", async () => {
  const stream = new Stream(config(), new MemoryLog());
  await captureAll(stream, 0, 5);
  const sink = new FakeSink();
  sink.room = 2;
  const reader = stream.subscribe(sink, 1, "", { kind: "first" }, 100);
  await sink.waitFor(2);
  await settle();
  sink.close();
  assert.ok(reader.closed);
  assert.equal(stream.info().readers, 0);
  await stream.close();
});

Deno.test("StreamReader close detaches it: nothing more is delivered", async () => {
  const stream = new Stream(config(), new MemoryLog());
  const sink = new FakeSink();
  const reader = stream.subscribe(sink, 1, "", { kind: "new" }, 100);
  await captureAll(stream, 0, 3);
  await sink.waitFor(3);
  reader.close();
  reader.close();
  reader.addCredit(5);
  assert.equal(stream.info().readers, 0);
  await captureAll(stream, 3, 6);
  await settle();
  assert.equal(sink.deliveries.length, 3);
  await stream.close();
});

Deno.test("Stream reader stops on a failed read and the stream keeps working", async () => {
  const log = new SpyLog(new MemoryLog());
  const stream = new Stream(config(), log);
  await captureAll(stream, 0, 5);
  log.failReads = new MbError("STORAGE_FAILED", "Cannot read segment: disk on fire");
  const broken = new FakeSink();
  const reader = stream.subscribe(broken, 1, "", { kind: "first" }, 100);
  await settle();
  assert.ok(reader.closed);
  assert.equal(broken.deliveries.length, 0);
  log.failReads = undefined;
  const healthy = new FakeSink();
  stream.subscribe(healthy, 2, "", { kind: "new" }, 100);
  await captureAll(stream, 5, 8);
  await healthy.waitFor(3);
  assert.deepEqual(healthy.offsets(), [5, 6, 7]);
  assert.equal(stream.info().readers, 1);
  await stream.close();
});

// ---------------------------------------------------------------- retention

Deno.test("Stream keeps at most maxMsgs messages visible", async () => {
  await withLogs(async (log, kind) => {
    const stream = new Stream(config({ maxMsgs: 5 }), log);
    for (let i = 0; i < 20; i++) await captureAll(stream, i, i + 1);
    await stream.enforceRetention();
    const info = stream.info();
    assert.equal(info.messages, 5, kind);
    assert.equal(info.firstOffset, 15, kind);
    assert.equal(info.nextOffset, 20, kind);
    if (kind === "memory") assert.equal(log.recordCount, 5);
    else assert.ok(log.recordCount < 20);
    const sink = new FakeSink();
    stream.subscribe(sink, 1, "", { kind: "first" }, 100);
    await sink.waitFor(5);
    await settle();
    assert.deepEqual(sink.offsets(), range(15, 20), kind);
    await stream.close();
  }, { segmentBytes: 1 });
});

Deno.test("Stream applies retention after appends that pass maxMsgs or maxBytes", async () => {
  const log = new MemoryLog();
  const stream = new Stream(config({ maxBytes: 3 * (25 + message("t", 0).length) }), log);
  await captureAll(stream, 0, 5);
  await stream.enforceRetention(); // waits for the one the append started, if still running
  assert.equal(log.recordCount, 3);
  assert.equal(log.firstOffset, 2);
  assert.equal(stream.info().firstOffset, 2);
  await stream.close();

  const log2 = new SpyLog(new MemoryLog());
  const stream2 = new Stream(config({ maxMsgs: 2 }), log2);
  await captureAll(stream2, 0, 4);
  await settle();
  assert.ok(log2.retentions.length >= 1);
  assert.deepEqual(log2.retentions[0], { maxRecords: 2 });
  assert.equal(log2.recordCount, 2);
  await stream2.close();
});

Deno.test("Stream drops messages older than maxAgeMs, rolling quiet active data first", async () => {
  const clock = manualClock();
  await withLogs(async (inner, kind) => {
    const log = new SpyLog(inner);
    const stream = new Stream(config({ maxAgeMs: 1000 }), log, { now: clock.now });
    await captureAll(stream, 0, 3);
    clock.advance(600);
    await captureAll(stream, 3, 5);
    await stream.enforceRetention();
    assert.equal(log.recordCount, 5, kind);
    assert.equal(log.rolls, 0, kind);
    clock.advance(600); // the first 3 are 1200 ms old, the active data too
    await stream.enforceRetention();
    assert.equal(log.rolls, 1, kind);
    if (kind === "memory") assert.equal(log.firstOffset, 3);
    else assert.equal(log.recordCount, 5); // the sealed segment still holds a young record
    clock.advance(1000);
    await stream.enforceRetention();
    assert.equal(log.recordCount, 0, kind);
    assert.equal(stream.info().messages, 0, kind);
    assert.equal(stream.info().firstOffset, 5, kind);
    await captureAll(stream, 5, 6);
    assert.equal(stream.info().messages, 1, kind);
    await stream.close();
  }, { now: clock.now });
});

Deno.test("Stream enforceRetention never runs two at once", async () => {
  const log = new SpyLog(new MemoryLog());
  const stream = new Stream(config({ maxMsgs: 1 }), log);
  await captureAll(stream, 0, 3);
  await stream.enforceRetention();
  const gate = Promise.withResolvers<void>();
  log.gate = gate.promise;
  log.retentions = [];
  const runs = [stream.enforceRetention(), stream.enforceRetention(), stream.enforceRetention()];
  await settle();
  assert.equal(log.retentions.length, 1);
  gate.resolve();
  await Promise.all(runs);
  assert.equal(log.maxRunning, 1);
  assert.equal(log.retentions.length, 2); // the calls made while it ran share one more run
  await stream.close();
});

Deno.test("Stream enforceRetention without limits does not touch the log", async () => {
  const log = new SpyLog(new MemoryLog());
  const stream = new Stream(config({ maxMsgs: 0, maxBytes: 0, maxAgeMs: 0 }), log);
  await captureAll(stream, 0, 3);
  await stream.enforceRetention();
  assert.equal(log.retentions.length, 0);
  assert.equal(log.rolls, 0);
  assert.equal(log.recordCount, 3);
  await stream.close();
});

Deno.test("Stream reader behind records removed by retention continues from the first held", async () => {
  await withLogs(async (log) => {
    const stream = new Stream(config(), log);
    for (let i = 0; i < 20; i++) await captureAll(stream, i, i + 1); // a segment each
    const sink = new FakeSink();
    const reader = stream.subscribe(sink, 1, "", { kind: "first" }, 2);
    await sink.waitFor(2);
    await settle();
    await log.removeBefore(10);
    const first = log.firstOffset;
    assert.ok(first > 2);
    reader.addCredit(100);
    await sink.waitFor(2 + 20 - first);
    await settle();
    assert.deepEqual(sink.offsets(), [0, 1, ...range(first, 20)]);
    await stream.close();
  }, { segmentBytes: 1 });
});

// ---------------------------------------------------------------- purge, onStored, close

Deno.test("Stream purge removes every message and readers continue from the next offset", async () => {
  await withLogs(async (log, kind) => {
    const stream = new Stream(config(), log);
    await captureAll(stream, 0, 5);
    const sink = new FakeSink();
    const reader = stream.subscribe(sink, 1, "", { kind: "first" }, 2);
    await sink.waitFor(2);
    await settle();
    assert.equal(await stream.purge(), 5, kind);
    assert.equal(reader.nextOffset, 5, kind);
    const info = stream.info();
    assert.equal(info.messages, 0);
    assert.equal(info.firstOffset, 5);
    assert.equal(info.nextOffset, 5);
    reader.addCredit(10);
    await captureAll(stream, 5, 7);
    await sink.waitFor(4);
    await settle();
    assert.deepEqual(sink.offsets(), [0, 1, 5, 6], kind);
    await stream.close();
  });
});

Deno.test("Stream capture tells onStored each offset in order", async () => {
  const stream = new Stream(config(), new MemoryLog());
  const stored: number[] = [];
  for (let i = 0; i < 5; i++) {
    stream.capture(message("t", i), (error, offset) => {
      assert.equal(error, undefined);
      stored.push(offset);
    });
  }
  assert.ok(stream.pendingBytes > 0);
  await stream.whenStored();
  assert.equal(stream.pendingBytes, 0);
  stream.capture(message("t", 5), (_error, offset) => stored.push(offset));
  await stream.whenStored();
  assert.deepEqual(stored, range(0, 6));
  await stream.close();
});

Deno.test("Stream capture reports STORAGE_FULL from a log over its quota", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mb_stream_" });
  try {
    const log = await SegmentLog.open(dir, { fsync: "never", maxBytesOnDisk: 100 });
    const stream = new Stream(config(), log);
    const results: [string | undefined, number][] = [];
    stream.capture(message("t", 0), (error, offset) => results.push([error?.code, offset]));
    await stream.whenStored();
    stream.capture(new Uint8Array(200), (error, offset) => results.push([error?.code, offset]));
    await stream.whenStored();
    assert.deepEqual(results, [[undefined, 0], ["STORAGE_FULL", -1]]);
    await stream.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Stream close stops readers, stores what was captured and closes the log", async () => {
  await withLogs(async (log, kind) => {
    const stream = new Stream(config(), log);
    const sink = new FakeSink();
    const reader = stream.subscribe(sink, 1, "", { kind: "new" }, 100);
    const stored: number[] = [];
    stream.capture(message("t", 0), (_error, offset) => stored.push(offset));
    const closing = stream.close();
    assert.equal(stream.close(), closing);
    await closing;
    assert.deepEqual(stored, [0], kind);
    assert.equal(sink.deliveries.length, 0, kind);
    assert.ok(reader.closed);
    assert.equal(stream.info().readers, 0);
    const errors: (string | undefined)[] = [];
    stream.capture(message("t", 1), (error) => errors.push(error?.code));
    assert.deepEqual(errors, ["STORAGE_FAILED"]);
    await assert.rejects(log.append([new Uint8Array(1)]), isMbError("STORAGE_FAILED"));
    assert.throws(
      () => stream.subscribe(sink, 2, "", { kind: "first" }, 1),
      isMbError("STREAM_UNKNOWN"),
    );
    await stream.enforceRetention();
  });
});

Deno.test("Stream info reports configuration and state", async () => {
  const stream = new Stream(
    { name: "orders", topics: ["orders/#"], maxMsgs: 100, maxAgeMs: 60_000 },
    new MemoryLog(),
  );
  await captureAll(stream, 0, 3, "orders/new");
  const sink = new FakeSink();
  stream.subscribe(sink, 1, "", { kind: "new" }, 1);
  const size = message("orders/new", 0).length;
  assert.deepEqual(stream.info(), {
    name: "orders",
    topics: ["orders/#"],
    maxMsgs: 100,
    maxAgeMs: 60_000,
    messages: 3,
    bytes: 3 * (25 + size),
    firstOffset: 0,
    nextOffset: 3,
    readers: 1,
  });
  const config = stream.config;
  config.topics.push("x");
  assert.deepEqual(stream.config.topics, ["orders/#"]);
  assert.equal(stream.name, "orders");
  await stream.close();
});
