// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { MbError } from "../../protocol/errors.ts";
import type { DurableLog } from "./durable_log.ts";
import { MemoryLog } from "./memory_log.ts";
import { type LogRecord, RECORD_HEADER_BYTES, SegmentLog } from "./segment_log.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function body(i: number): Uint8Array {
  return encoder.encode(`record-${i}`);
}

function bodies(from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < to; i++) out.push(body(i));
  return out;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

function offsets(records: LogRecord[]): number[] {
  return records.map((r) => r.offset);
}

function texts(records: LogRecord[]): string[] {
  return records.map((r) => decoder.decode(r.body));
}

function isMbError(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof MbError, `expected MbError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

function manualClock(
  start = 1_700_000_000_000,
): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

Deno.test("MemoryLog append gives contiguous offsets from 0 in call order", async () => {
  const log = new MemoryLog();
  assert.equal(log.firstOffset, 0);
  assert.equal(log.nextOffset, 0);
  const results = await Promise.all([
    log.append(bodies(0, 2)),
    log.append(bodies(2, 3)),
    log.append([]),
    log.append(bodies(3, 6)),
  ]);
  assert.deepEqual(results, [
    { first: 0, last: 1 },
    { first: 2, last: 2 },
    { first: 3, last: 2 },
    { first: 3, last: 5 },
  ]);
  assert.equal(log.recordCount, 6);
  assert.equal(log.nextOffset, 6);
  assert.deepEqual(texts(await log.read(0)), range(0, 6).map((i) => `record-${i}`));
});

Deno.test("MemoryLog append copies the bodies", async () => {
  const log = new MemoryLog();
  const b = new Uint8Array([1, 2, 3]);
  await log.append([b]);
  b[0] = 9;
  assert.deepEqual((await log.read(0))[0].body, new Uint8Array([1, 2, 3]));
});

Deno.test("MemoryLog append stamps records with the clock or the given timestamp", async () => {
  const clock = manualClock(1000);
  const log = new MemoryLog({ now: clock.now });
  await log.append([body(0)]);
  await log.append([body(1)], 5000);
  assert.deepEqual((await log.read(0)).map((r) => r.timestamp), [1000, 5000]);
});

Deno.test("MemoryLog byteSize counts a header and the body per record", async () => {
  const log = new MemoryLog();
  await log.append([new Uint8Array(10), new Uint8Array(0)]);
  assert.equal(log.byteSize, 2 * RECORD_HEADER_BYTES + 10);
  await log.removeBefore(1);
  assert.equal(log.byteSize, RECORD_HEADER_BYTES);
});

Deno.test("MemoryLog read honours maxRecords and maxBytes and returns at least one record", async () => {
  const log = new MemoryLog();
  await log.append([new Uint8Array(100), new Uint8Array(100), new Uint8Array(100)]);
  assert.deepEqual(offsets(await log.read(0, { maxRecords: 2 })), [0, 1]);
  assert.deepEqual(offsets(await log.read(0, { maxBytes: 250 })), [0, 1]);
  assert.deepEqual(offsets(await log.read(0, { maxBytes: 200 })), [0, 1]);
  assert.deepEqual(offsets(await log.read(1, { maxBytes: 10 })), [1]);
  assert.deepEqual(offsets(await log.read(0, { maxBytes: 0 })), [0]);
  assert.deepEqual(await log.read(3), []);
  assert.deepEqual(await log.read(100), []);
});

Deno.test("MemoryLog read from below the first offset starts at the first record held", async () => {
  const log = new MemoryLog();
  await log.append(bodies(0, 10));
  await log.removeBefore(4);
  assert.deepEqual(offsets(await log.read(0, { maxRecords: 2 })), [4, 5]);
});

Deno.test("MemoryLog applyRetention drops the oldest records beyond maxRecords", async () => {
  const log = new MemoryLog();
  await log.append(bodies(0, 10));
  const removed = await log.applyRetention({ maxRecords: 3 });
  assert.equal(removed.records, 7);
  assert.equal(removed.segments, 0);
  assert.equal(removed.firstOffset, 7);
  assert.equal(removed.bytes, 7 * (RECORD_HEADER_BYTES + body(0).length));
  assert.equal(log.recordCount, 3);
  assert.deepEqual(offsets(await log.read(0)), [7, 8, 9]);
});

Deno.test("MemoryLog applyRetention drops the oldest records beyond maxBytes", async () => {
  const log = new MemoryLog();
  await log.append([new Uint8Array(10), new Uint8Array(10), new Uint8Array(10)]);
  await log.applyRetention({ maxBytes: 2 * (RECORD_HEADER_BYTES + 10) });
  assert.equal(log.firstOffset, 1);
  await log.applyRetention({ maxBytes: 2 * (RECORD_HEADER_BYTES + 10) - 1 });
  assert.equal(log.firstOffset, 2);
  await log.applyRetention({ maxBytes: 0 });
  assert.equal(log.recordCount, 0);
  assert.equal(log.byteSize, 0);
  assert.equal(log.firstOffset, 3);
});

Deno.test("MemoryLog applyRetention drops records older than maxAgeMs", async () => {
  const clock = manualClock(10_000);
  const log = new MemoryLog({ now: clock.now });
  await log.append([body(0)], 1000);
  await log.append([body(1)], 2000);
  await log.append([body(2)], 3000);
  const removed = await log.applyRetention({ maxAgeMs: 10_000 - 2000 });
  assert.equal(removed.records, 1);
  assert.equal(log.firstOffset, 1);
  clock.advance(100_000);
  await log.applyRetention({ maxAgeMs: 1 });
  assert.equal(log.recordCount, 0);
});

Deno.test("MemoryLog applyRetention without limits removes nothing", async () => {
  const log = new MemoryLog();
  await log.append(bodies(0, 3));
  assert.deepEqual(await log.applyRetention({}), {
    segments: 0,
    records: 0,
    bytes: 0,
    firstOffset: 0,
  });
});

Deno.test("MemoryLog removeBefore drops exactly the records below the offset", async () => {
  const log = new MemoryLog();
  await log.append(bodies(0, 5));
  assert.equal((await log.removeBefore(0)).records, 0);
  assert.equal((await log.removeBefore(3)).records, 3);
  assert.equal(log.firstOffset, 3);
  assert.equal((await log.removeBefore(2)).records, 0);
  assert.equal((await log.removeBefore(100)).records, 2);
  assert.equal(log.firstOffset, 5);
  assert.equal(log.nextOffset, 5);
});

Deno.test("MemoryLog truncateAll drops every record and offsets keep counting", async () => {
  const log = new MemoryLog();
  await log.append(bodies(0, 4));
  const removed = await log.truncateAll();
  assert.equal(removed.records, 4);
  assert.equal(removed.firstOffset, 4);
  assert.equal(log.recordCount, 0);
  assert.equal(log.byteSize, 0);
  assert.deepEqual(await log.read(0), []);
  assert.deepEqual(await log.append([body(4)]), { first: 4, last: 4 });
  assert.deepEqual(offsets(await log.read(0)), [4]);
});

Deno.test("MemoryLog keeps offsets right across many drops and compactions", async () => {
  const log = new MemoryLog();
  let next = 0;
  for (let round = 0; round < 20; round++) {
    await log.append(bodies(next, next + 1500));
    next += 1500;
    await log.applyRetention({ maxRecords: 700 });
    assert.equal(log.firstOffset, next - 700);
    assert.equal(log.recordCount, 700);
    const page = await log.read(next - 10);
    assert.deepEqual(offsets(page), range(next - 10, next));
    assert.deepEqual(texts(page), range(next - 10, next).map((i) => `record-${i}`));
  }
});

Deno.test("MemoryLog refuses bad arguments with INVALID_ARGUMENT", async () => {
  const log = new MemoryLog();
  const invalid = isMbError("INVALID_ARGUMENT");
  await assert.rejects(log.append("x" as unknown as Uint8Array[]), invalid);
  await assert.rejects(log.append(["x" as unknown as Uint8Array]), invalid);
  await assert.rejects(log.append([body(0)], -1), invalid);
  await assert.rejects(log.append([body(0)], 1.5), invalid);
  await assert.rejects(log.read(-1), invalid);
  await assert.rejects(log.read(0.5), invalid);
  await assert.rejects(log.read(0, { maxRecords: 0 }), invalid);
  await assert.rejects(log.read(0, { maxBytes: -1 }), invalid);
  await assert.rejects(log.applyRetention({ maxRecords: -1 }), invalid);
  await assert.rejects(log.removeBefore(-1), invalid);
  assert.equal(log.nextOffset, 0);
});

Deno.test("MemoryLog rejects every operation with STORAGE_FAILED once closed", async () => {
  const log = new MemoryLog();
  await log.append(bodies(0, 2));
  await log.close();
  await log.close();
  const failed = isMbError("STORAGE_FAILED");
  await assert.rejects(log.append([body(2)]), failed);
  await assert.rejects(log.read(0), failed);
  await assert.rejects(log.applyRetention({ maxRecords: 1 }), failed);
  await assert.rejects(log.removeBefore(1), failed);
  await assert.rejects(log.truncateAll(), failed);
  await assert.rejects(log.roll(), failed);
  await assert.rejects(log.flush(), failed);
  assert.equal(log.nextOffset, 2);
});

Deno.test("MemoryLog reads like SegmentLog", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mb_memory_log_" });
  try {
    await using disk = await SegmentLog.open(dir, { fsync: "never" });
    await using memory = new MemoryLog();
    const logs: DurableLog[] = [disk, memory];
    for (const log of logs) {
      await log.append(bodies(0, 50), 1000);
      await log.append([new Uint8Array(3000), new Uint8Array(10)], 2000);
      await log.append(bodies(52, 60), 3000);
    }
    const cases: [number, number | undefined, number | undefined][] = [
      [0, undefined, undefined],
      [10, 5, undefined],
      [49, 10, 100],
      [50, 10, 100],
      [51, undefined, 0],
      [59, undefined, undefined],
      [60, undefined, undefined],
    ];
    for (const [from, maxRecords, maxBytes] of cases) {
      const a = await disk.read(from, { maxRecords, maxBytes });
      const b = await memory.read(from, { maxRecords, maxBytes });
      assert.deepEqual(offsets(b), offsets(a), `read(${from}, ${maxRecords}, ${maxBytes})`);
      assert.deepEqual(b.map((r) => r.timestamp), a.map((r) => r.timestamp));
      assert.deepEqual(texts(b), texts(a));
    }
    assert.equal(memory.byteSize, disk.byteSize);
    assert.equal(memory.recordCount, disk.recordCount);
    await disk.truncateAll();
    await memory.truncateAll();
    assert.equal(memory.firstOffset, disk.firstOffset);
    assert.deepEqual(await memory.append([body(0)]), await disk.append([body(0)]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
