// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { MbError } from "../../protocol/errors.ts";
import {
  type LogRecord,
  RECORD_HEADER_BYTES,
  SegmentLog,
  type SegmentLogRecovery,
} from "./segment_log.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mb_segment_log_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function body(i: number): Uint8Array {
  return encoder.encode(`record-${i}`);
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

/** A clock the test moves by hand. */
function manualClock(
  start = 1_700_000_000_000,
): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

async function segmentFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

function isMbError(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof MbError, `expected MbError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

/** Appends records `from..to` one batch each, with bodies `record-<i>`. */
async function appendEach(log: SegmentLog, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const result = await log.append([body(i)]);
    assert.deepEqual(result, { first: i, last: i });
  }
}

/** Reads the whole log in pages of `page` records. */
async function readAll(log: SegmentLog, from = 0, page = 7): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let next = from;
  for (;;) {
    const records = await log.read(next, { maxRecords: page });
    if (records.length === 0) return out;
    out.push(...records);
    next = records[records.length - 1].offset + 1;
  }
}

Deno.test("SegmentLog round-trips a batch: offsets, timestamps and bodies", async () => {
  await withDir(async (dir) => {
    const clock = manualClock();
    await using log = await SegmentLog.open(dir, { fsync: "never", now: clock.now });
    assert.equal(log.firstOffset, 0);
    assert.equal(log.nextOffset, 0);
    const bodies = [encoder.encode("a"), new Uint8Array(0), new Uint8Array(5000).fill(7)];
    assert.deepEqual(await log.append(bodies), { first: 0, last: 2 });
    assert.deepEqual(await log.append([encoder.encode("later")], 42), { first: 3, last: 3 });
    assert.deepEqual(await log.append([]), { first: 4, last: 3 });
    const records = await log.read(0);
    assert.deepEqual(offsets(records), [0, 1, 2, 3]);
    assert.deepEqual(records.map((r) => r.timestamp), [clock.now(), clock.now(), clock.now(), 42]);
    assert.deepEqual(records[0].body, bodies[0]);
    assert.deepEqual(records[1].body, bodies[1]);
    assert.deepEqual(records[2].body, bodies[2]);
    assert.equal(decoder.decode(records[3].body), "later");
    assert.equal(log.recordCount, 4);
    assert.equal(log.nextOffset, 4);
    assert.equal(log.byteSize, 4 * RECORD_HEADER_BYTES + 1 + 0 + 5000 + 5);
    assert.equal((await Deno.stat(`${dir}/00000000000000000000.log`)).size, log.byteSize);
  });
});

Deno.test("SegmentLog rolls segments by size and names them by base offset", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 200 });
    await appendEach(log, 0, 100);
    assert.ok(log.segmentCount > 10, `only ${log.segmentCount} segments`);
    const names = await segmentFiles(dir);
    assert.equal(names.length, log.segmentCount);
    for (const name of names) {
      assert.match(name, /^\d{20}\.log$/);
      const base = Number(name.slice(0, 20));
      const [first] = await log.read(base, { maxRecords: 1 });
      assert.equal(first.offset, base, `${name} starts with its base offset`);
      const size = (await Deno.stat(`${dir}/${name}`)).size;
      // A segment passes segmentBytes by at most one batch.
      assert.ok(size < 200 + RECORD_HEADER_BYTES + 10, `${name} is ${size} bytes`);
    }
    const all = await log.read(0, { maxRecords: 1000 });
    assert.deepEqual(offsets(all), range(0, 100));
    assert.deepEqual(texts(all), range(0, 100).map((i) => `record-${i}`));
    for (let i = 0; i < 100; i++) {
      const [record] = await log.read(i, { maxRecords: 1 });
      assert.equal(record.offset, i);
      assert.equal(decoder.decode(record.body), `record-${i}`);
    }
    assert.deepEqual(offsets(await readAll(log)), range(0, 100));
  });
});

Deno.test("SegmentLog never splits a batch across segments", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 100 });
    await log.append(range(0, 10).map(body));
    await log.append(range(10, 20).map(body));
    assert.equal(log.segmentCount, 2);
    assert.deepEqual(await segmentFiles(dir), [
      "00000000000000000000.log",
      "00000000000000000010.log",
    ]);
  });
});

Deno.test("SegmentLog read stops at maxRecords and maxBytes but returns at least one record", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never" });
    await log.append([new Uint8Array(100), new Uint8Array(100), new Uint8Array(100)]);
    assert.equal((await log.read(0, { maxRecords: 2 })).length, 2);
    assert.equal((await log.read(0, { maxBytes: 250 })).length, 2);
    assert.equal((await log.read(0, { maxBytes: 300 })).length, 3);
    assert.equal((await log.read(0, { maxBytes: 10 })).length, 1);
    assert.equal((await log.read(2, { maxBytes: 0 })).length, 1);
  });
});

Deno.test("SegmentLog reads from the middle, from before the first offset and past the end", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, {
      fsync: "never",
      segmentBytes: 300,
      indexIntervalBytes: 64,
    });
    await appendEach(log, 0, 60);
    assert.deepEqual(offsets(await log.read(33, { maxRecords: 4 })), [33, 34, 35, 36]);
    const removed = await log.applyRetention({ maxRecords: 30 });
    assert.ok(removed.records > 0);
    const first = log.firstOffset;
    assert.equal(first, removed.records);
    assert.deepEqual(offsets(await log.read(0, { maxRecords: 2 })), [first, first + 1]);
    assert.deepEqual(offsets(await log.read(first - 1, { maxRecords: 1 })), [first]);
    assert.deepEqual(await log.read(60), []);
    assert.deepEqual(await log.read(1_000_000), []);
    assert.deepEqual(offsets(await log.read(59)), [59]);
  });
});

Deno.test("SegmentLog reads records larger than its read chunk and pages across chunks", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never" });
    const big = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    await log.append([encoder.encode("small"), big, encoder.encode("after")]);
    const small = range(0, 5000).map((i) => new Uint8Array(300).fill(i & 0xff));
    await log.append(small);
    const records = await log.read(0, { maxRecords: 3, maxBytes: 1 });
    assert.equal(records.length, 1);
    const [second] = await log.read(1, { maxRecords: 1 });
    assert.deepEqual(second.body, big);
    const rest = await log.read(3, { maxRecords: 10_000, maxBytes: 10 * 1024 * 1024 });
    assert.equal(rest.length, 5000);
    for (let i = 0; i < rest.length; i++) {
      assert.equal(rest[i].offset, 3 + i);
      assert.equal(rest[i].body[0], i & 0xff);
      assert.equal(rest[i].body.length, 300);
    }
  });
});

Deno.test("SegmentLog reopen restores nextOffset, counts and contents", async () => {
  await withDir(async (dir) => {
    const options = { fsync: "always", segmentBytes: 256, indexIntervalBytes: 50 } as const;
    let byteSize: number;
    {
      await using log = await SegmentLog.open(dir, options);
      await appendEach(log, 0, 40);
      byteSize = log.byteSize;
    }
    {
      const recoveries: SegmentLogRecovery[] = [];
      await using log = await SegmentLog.open(dir, {
        ...options,
        onRecover: (r) => recoveries.push(r),
      });
      assert.deepEqual(recoveries, []);
      assert.equal(log.nextOffset, 40);
      assert.equal(log.firstOffset, 0);
      assert.equal(log.recordCount, 40);
      assert.equal(log.byteSize, byteSize);
      assert.deepEqual(texts(await readAll(log)), range(0, 40).map((i) => `record-${i}`));
      assert.deepEqual(offsets(await log.read(27, { maxRecords: 2 })), [27, 28]);
      await appendEach(log, 40, 45);
    }
    await using log = await SegmentLog.open(dir, options);
    assert.equal(log.nextOffset, 45);
    assert.deepEqual(offsets(await readAll(log)), range(0, 45));
  });
});

/** Writes records 0..9 (segmentBytes large: one segment), closes, returns the file path. */
async function tenRecords(dir: string): Promise<string> {
  await using log = await SegmentLog.open(dir, { fsync: "always" });
  await appendEach(log, 0, 10);
  return `${dir}/00000000000000000000.log`;
}

/** Reopens after damage; checks the recovery and that appends go on without reusing offsets. */
async function checkRecovered(
  dir: string,
  reason: string,
  lastGood: number,
  continueFrom: number = lastGood + 1,
): Promise<void> {
  const recoveries: SegmentLogRecovery[] = [];
  {
    await using log = await SegmentLog.open(dir, {
      fsync: "always",
      onRecover: (r) => recoveries.push(r),
    });
    assert.equal(recoveries.length, 1);
    assert.equal(recoveries[0].reason, reason);
    assert.equal(recoveries[0].lastOffset, lastGood);
    assert.ok(recoveries[0].removedBytes > 0);
    assert.equal(log.nextOffset, continueFrom);
    assert.deepEqual(offsets(await readAll(log)), range(0, lastGood + 1));
    await appendEach(log, continueFrom, continueFrom + 3);
  }
  await using log = await SegmentLog.open(dir, {
    onRecover: () => assert.fail("second open must find a clean log"),
  });
  const all = await readAll(log);
  assert.deepEqual(offsets(all), [
    ...range(0, lastGood + 1),
    ...range(continueFrom, continueFrom + 3),
  ]);
  assert.equal(new Set(offsets(all)).size, all.length, "no duplicate offsets");
  assert.deepEqual(texts(all), offsets(all).map((i) => `record-${i}`));
}

Deno.test("SegmentLog recovers from a segment cut in the middle of a record", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const size = (await Deno.stat(path)).size;
    await Deno.truncate(path, size - 5); // inside record 9's body
    await checkRecovered(dir, "torn", 8);
  });
});

Deno.test("SegmentLog recovers from a segment cut inside a record header", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const recordBytes = RECORD_HEADER_BYTES + "record-0".length;
    await Deno.truncate(path, 3 * recordBytes + 10);
    await checkRecovered(dir, "torn", 2);
  });
});

Deno.test("SegmentLog recovers from a flipped byte in the last record's body", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 1] ^= 0x01;
    await Deno.writeFile(path, bytes);
    await checkRecovered(dir, "checksum", 8);
  });
});

Deno.test("SegmentLog recovers from a flipped byte in a middle record's offset", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const bytes = await Deno.readFile(path);
    const recordBytes = RECORD_HEADER_BYTES + "record-0".length;
    bytes[5 * recordBytes + 16] ^= 0x40; // low byte of record 5's offset
    await Deno.writeFile(path, bytes);
    await checkRecovered(dir, "offset", 4);
  });
});

Deno.test("SegmentLog recovers from garbage bytes after the last record", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const file = await Deno.open(path, { append: true });
    await file.write(encoder.encode("this is not a record, just garbage at the tail"));
    file.close();
    await checkRecovered(dir, "magic", 9);
  });
});

Deno.test("SegmentLog recovers from a zero-filled tail and from a tail that claims a huge body", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const file = await Deno.open(path, { append: true });
    await file.write(new Uint8Array(4096));
    file.close();
    await checkRecovered(dir, "magic", 9);
  });
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    const header = new Uint8Array(RECORD_HEADER_BYTES + 3);
    header.set([0xa1, 0, 0, 0, 0, 0x10, 0, 0, 0]); // magic, crc, length 256 MiB
    const file = await Deno.open(path, { append: true });
    await file.write(header);
    file.close();
    await checkRecovered(dir, "torn", 9);
  });
});

Deno.test("SegmentLog recovers a torn sealed segment and keeps later segments and offsets", async () => {
  await withDir(async (dir) => {
    {
      await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 150 });
      await appendEach(log, 0, 20);
    }
    const names = await segmentFiles(dir);
    assert.ok(names.length >= 3);
    // Cut the first segment in its last record, as a power cut under "never" might.
    const first = `${dir}/${names[0]}`;
    await Deno.truncate(first, (await Deno.stat(first)).size - 2);
    const secondBase = Number(names[1].slice(0, 20));
    const recoveries: SegmentLogRecovery[] = [];
    await using log = await SegmentLog.open(dir, { onRecover: (r) => recoveries.push(r) });
    assert.equal(recoveries.length, 1);
    assert.equal(recoveries[0].reason, "torn");
    assert.equal(recoveries[0].lastOffset, secondBase - 2);
    assert.equal(log.nextOffset, 20);
    assert.equal(log.recordCount, 19);
    const all = await readAll(log);
    assert.deepEqual(offsets(all), range(0, 20).filter((i) => i !== secondBase - 1));
    assert.deepEqual(offsets(await log.read(secondBase - 1, { maxRecords: 1 })), [secondBase]);
    assert.deepEqual(await log.append([body(20)]), { first: 20, last: 20 });
  });
});

Deno.test("SegmentLog read fails with STORAGE_FAILED on a corrupt record and returns the ones before it", async () => {
  await withDir(async (dir) => {
    const path = await tenRecords(dir);
    await using log = await SegmentLog.open(dir);
    const bytes = await Deno.readFile(path);
    const recordBytes = RECORD_HEADER_BYTES + "record-0".length;
    bytes[4 * recordBytes + RECORD_HEADER_BYTES] ^= 0xff; // record 4's body, after open checked it
    await Deno.writeFile(path, bytes);
    assert.deepEqual(offsets(await log.read(0)), [0, 1, 2, 3]);
    await assert.rejects(log.read(4), isMbError("STORAGE_FAILED"));
    assert.deepEqual(offsets(await log.read(5)), [5, 6, 7, 8, 9]);
  });
});

/** Ten segments of exactly 100 bytes, two 50-byte records each, offsets 0..19. */
async function fillTenSegments(log: SegmentLog): Promise<void> {
  const body = () => new Uint8Array(50 - RECORD_HEADER_BYTES);
  for (let i = 0; i < 10; i++) await log.append([body(), body()]);
  assert.equal(log.segmentCount, 10);
  assert.equal(log.byteSize, 1000);
}

Deno.test("SegmentLog applyRetention by records removes whole old segments only", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 100 });
    await fillTenSegments(log);
    const removed = await log.applyRetention({ maxRecords: 5 });
    // 20 records, 2 a segment; a segment goes only if >= 5 records stay without it.
    assert.equal(removed.segments, 7);
    assert.equal(removed.records, 14);
    assert.equal(removed.bytes, 700);
    assert.equal(removed.firstOffset, 14);
    assert.equal(log.recordCount, 6);
    assert.equal(log.segmentCount, 3);
    assert.deepEqual(await segmentFiles(dir), [
      "00000000000000000014.log",
      "00000000000000000016.log",
      "00000000000000000018.log",
    ]);
    assert.deepEqual(offsets(await readAll(log)), range(14, 20));
    // The active segment stays even when the limit is 0.
    await log.applyRetention({ maxRecords: 0 });
    assert.equal(log.segmentCount, 1);
    assert.deepEqual(offsets(await readAll(log)), [18, 19]);
    assert.equal(log.nextOffset, 20);
  });
});

Deno.test("SegmentLog applyRetention by bytes keeps at least maxBytes", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 100 });
    await fillTenSegments(log);
    assert.equal(log.byteSize, 1000);
    // A segment goes only if >= 201 bytes stay without it: 300 stay.
    const removed = await log.applyRetention({ maxBytes: 201 });
    assert.deepEqual(removed, { segments: 7, records: 14, bytes: 700, firstOffset: 14 });
    assert.equal(log.byteSize, 300);
    assert.equal(log.segmentCount, 3);
    assert.deepEqual(offsets(await readAll(log)), range(14, 20));
    assert.deepEqual(await log.applyRetention({ maxBytes: 300 }), {
      segments: 0,
      records: 0,
      bytes: 0,
      firstOffset: 14,
    });
  });
});

Deno.test("SegmentLog applyRetention by age removes segments whose newest record expired", async () => {
  await withDir(async (dir) => {
    const clock = manualClock();
    await using log = await SegmentLog.open(dir, {
      fsync: "never",
      segmentBytes: 1,
      now: clock.now,
    });
    for (let i = 0; i < 5; i++) {
      await log.append([body(i)]);
      clock.advance(1000);
    }
    // Records at t0, t0+1s, ..., t0+4s; now is t0+5s.
    const removed = await log.applyRetention({ maxAgeMs: 2500 });
    assert.equal(removed.records, 3); // t0, t0+1s and t0+2s are older than 2.5s
    assert.deepEqual(offsets(await readAll(log)), [3, 4]);
    clock.advance(60_000);
    await log.applyRetention({ maxAgeMs: 1000 });
    assert.deepEqual(offsets(await readAll(log)), [4], "the active segment stays");
    await log.roll();
    await log.applyRetention({ maxAgeMs: 1000 });
    assert.deepEqual(await readAll(log), []);
    assert.equal(log.firstOffset, 5);
    assert.equal(log.nextOffset, 5);
  });
});

Deno.test("SegmentLog rolls the active segment after segmentMaxAgeMs", async () => {
  await withDir(async (dir) => {
    const clock = manualClock();
    await using log = await SegmentLog.open(dir, {
      fsync: "never",
      segmentMaxAgeMs: 10_000,
      now: clock.now,
    });
    await log.append([body(0)]);
    clock.advance(9_999);
    await log.append([body(1)]);
    assert.equal(log.segmentCount, 1);
    clock.advance(1);
    await log.append([body(2)]);
    assert.equal(log.segmentCount, 2);
    assert.deepEqual(await segmentFiles(dir), [
      "00000000000000000000.log",
      "00000000000000000002.log",
    ]);
  });
});

Deno.test("SegmentLog truncateAll deletes every record and keeps offsets monotonic across reopen", async () => {
  await withDir(async (dir) => {
    {
      await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 100 });
      await appendEach(log, 0, 12);
      const removed = await log.truncateAll();
      assert.equal(removed.records, 12);
      assert.equal(log.recordCount, 0);
      assert.equal(log.byteSize, 0);
      assert.equal(log.firstOffset, 12);
      assert.equal(log.nextOffset, 12);
      assert.deepEqual(await log.read(0), []);
      assert.deepEqual(await segmentFiles(dir), ["00000000000000000012.log"]);
    }
    {
      await using log = await SegmentLog.open(dir, { fsync: "never" });
      assert.equal(log.nextOffset, 12);
      assert.deepEqual(await log.append([body(12)]), { first: 12, last: 12 });
      await log.truncateAll();
      await log.truncateAll(); // nothing left: a no-op
    }
    await using log = await SegmentLog.open(dir, { fsync: "never" });
    assert.equal(log.nextOffset, 13);
    assert.equal(log.recordCount, 0);
    assert.deepEqual(await log.append([body(13)]), { first: 13, last: 13 });
  });
});

Deno.test("SegmentLog with fsync always commits 100 concurrent appends as contiguous offsets in call order", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "always", segmentBytes: 1000 });
    const pending: Promise<{ first: number; last: number }>[] = [];
    for (let i = 0; i < 100; i++) pending.push(log.append([body(i)]));
    const results = await Promise.all(pending);
    assert.deepEqual(results.map((r) => r.first), range(0, 100));
    assert.deepEqual(results.map((r) => r.last), range(0, 100));
    const all = await readAll(log);
    assert.deepEqual(texts(all), range(0, 100).map((i) => `record-${i}`));
    // A second wave arrives while a sync is in flight.
    const wave: Promise<{ first: number; last: number }>[] = [];
    for (let i = 100; i < 200; i++) {
      wave.push(log.append([body(i), body(i)]));
      if (i % 10 === 0) await Promise.resolve();
    }
    const second = await Promise.all(wave);
    assert.deepEqual(second.map((r) => r.first), range(0, 100).map((i) => 100 + 2 * i));
    assert.equal(log.nextOffset, 300);
  });
});

Deno.test("SegmentLog reads running beside appends never see a partial batch", async () => {
  for (const fsync of ["always", "never"] as const) {
    await withDir(async (dir) => {
      await using log = await SegmentLog.open(dir, { fsync, segmentBytes: 2048 });
      const resolved = new Set<number>();
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 500; i += 5) {
        writes.push(log.append(range(i, i + 5).map(body)).then(() => resolved.add(i / 5)));
      }
      const reader = (async () => {
        let next = 0;
        while (next < 500) {
          const records = await log.read(next, { maxRecords: 7 });
          for (const record of records) {
            assert.equal(record.offset, next);
            assert.equal(decoder.decode(record.body), `record-${next}`);
            // Every record a read returns belongs to a resolved append.
            assert.ok(
              resolved.has(Math.floor(next / 5)),
              `record ${next} before its append resolved`,
            );
            next++;
          }
          // Caught up: wait for the append that writes `next`, not for a clock.
          if (records.length === 0) await writes[Math.floor(next / 5)];
        }
        return next;
      })();
      await Promise.all(writes);
      assert.equal(await reader, 500);
    });
  }
});

Deno.test("SegmentLog with fsync interval syncs on a timer and closes cleanly", async () => {
  await withDir(async (dir) => {
    const log = await SegmentLog.open(dir, { fsync: "interval", fsyncIntervalMs: 5 });
    await log.append([body(0)]);
    await log.flush();
    await log.close();
    await log.close(); // idempotent
    await assert.rejects(log.append([body(1)]), isMbError("STORAGE_FAILED"));
    await assert.rejects(log.read(0), isMbError("STORAGE_FAILED"));
    await using again = await SegmentLog.open(dir);
    assert.equal(again.nextOffset, 1);
  });
});

Deno.test("SegmentLog flush under fsync never covers segments rolled since the last sync", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 50 });
    await appendEach(log, 0, 10);
    await log.flush();
    await log.flush();
    assert.equal(log.segmentCount, 5);
  });
});

Deno.test("SegmentLog refuses an append over maxBytesOnDisk with STORAGE_FULL and keeps working", async () => {
  await withDir(async (dir) => {
    const recordBytes = RECORD_HEADER_BYTES + 100;
    await using log = await SegmentLog.open(dir, {
      fsync: "always",
      segmentBytes: 2 * recordBytes,
      maxBytesOnDisk: 5 * recordBytes,
    });
    const hundred = () => new Uint8Array(100);
    assert.deepEqual(await log.append([hundred(), hundred(), hundred()]), { first: 0, last: 2 });
    await assert.rejects(log.append([hundred(), hundred(), hundred()]), isMbError("STORAGE_FULL"));
    assert.equal(log.byteSize, 3 * recordBytes, "nothing written");
    assert.equal((await Deno.stat(`${dir}/00000000000000000000.log`)).size, 3 * recordBytes);
    // Among concurrent appends only the one that does not fit is refused.
    const results = await Promise.allSettled([
      log.append([hundred()]),
      log.append([hundred(), hundred()]),
      log.append([hundred()]),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.equal(log.nextOffset, 5);
    assert.equal(log.byteSize, 5 * recordBytes);
    // Retention frees room; appends go on with the next offset.
    await log.applyRetention({ maxRecords: 0 });
    assert.equal(log.byteSize, 2 * recordBytes);
    assert.deepEqual(await log.append([hundred()]), { first: 5, last: 5 });
    assert.deepEqual(offsets(await readAll(log)), [3, 4, 5]);
  });
});

Deno.test("SegmentLog open fails with STORAGE_FAILED when the directory cannot be used", async () => {
  await withDir(async (dir) => {
    // A path under a file fails for every user, root included.
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(SegmentLog.open(`${dir}/file`), isMbError("STORAGE_FAILED"));
    await assert.rejects(SegmentLog.open(`${dir}/file/log`), isMbError("STORAGE_FAILED"));
    // A read-only directory: root ignores permission bits, so only others can check it.
    if (Deno.build.os !== "windows" && Deno.uid() !== 0) {
      const readOnly = `${dir}/read_only`;
      await Deno.mkdir(readOnly, { mode: 0o500 });
      try {
        await assert.rejects(SegmentLog.open(readOnly), isMbError("STORAGE_FAILED"));
      } finally {
        await Deno.chmod(readOnly, 0o700);
      }
    }
  });
});

Deno.test({
  name:
    "SegmentLog append fails with STORAGE_FAILED when the disk is full and the log refuses more",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withDir(async (dir) => {
      // The active segment is /dev/full: writes fail with ENOSPC and it cannot be truncated.
      await Deno.symlink("/dev/full", `${dir}/00000000000000000000.log`);
      await using log = await SegmentLog.open(dir, { fsync: "always" });
      await assert.rejects(log.append([body(0)]), isMbError("STORAGE_FAILED"));
      await assert.rejects(log.append([body(1)]), (err) => {
        isMbError("STORAGE_FAILED")(err);
        assert.match((err as Error).message, /must be reopened/);
        return true;
      });
      assert.equal(log.nextOffset, 0);
      assert.deepEqual(await log.read(0), []);
    });
  },
});

Deno.test({
  name:
    "SegmentLog cuts a failed write back and keeps appending (file size limit in a child process)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withDir(async (dir) => {
      // RLIMIT_FSIZE of 4 blocks (2 or 4 KiB) with SIGXFSZ ignored: a write past it is cut
      // short, then fails with EFBIG, a real failure in the middle of a record.
      const module = new URL("./segment_log.ts", import.meta.url).href;
      const code = `
        import { SegmentLog } from ${JSON.stringify(module)};
        const out = [];
        const log = await SegmentLog.open(${JSON.stringify(dir)}, { fsync: "always" });
        out.push(await log.append([new Uint8Array(1000)]));
        await log.append([new Uint8Array(5000)]).then(() => out.push("written"), (e) => out.push(e.code));
        out.push(log.nextOffset, log.byteSize);
        out.push(await log.append([new Uint8Array(10)]));
        await log.close();
        console.log(JSON.stringify(out));
      `;
      const child = await new Deno.Command("sh", {
        args: [
          "-c",
          'trap "" XFSZ; ulimit -f 4; exec "$0" eval --no-lock "$1"',
          Deno.execPath(),
          code,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(child.success, decoder.decode(child.stderr));
      const recordBytes = RECORD_HEADER_BYTES + 1000;
      assert.deepEqual(JSON.parse(decoder.decode(child.stdout)), [
        { first: 0, last: 0 },
        "STORAGE_FAILED",
        1,
        recordBytes,
        { first: 1, last: 1 },
      ]);
      await using log = await SegmentLog.open(dir, {
        onRecover: () => assert.fail("the failed write must leave no partial record"),
      });
      const records = await log.read(0);
      assert.deepEqual(offsets(records), [0, 1]);
      assert.deepEqual(records.map((r) => r.body.length), [1000, 10]);
    });
  },
});

Deno.test("SegmentLog rejects bad arguments with INVALID_ARGUMENT", async () => {
  await withDir(async (dir) => {
    await assert.rejects(SegmentLog.open(dir, { segmentBytes: 0 }), isMbError("INVALID_ARGUMENT"));
    await assert.rejects(
      // @ts-expect-error: a bad policy from untyped config
      SegmentLog.open(dir, { fsync: "sometimes" }),
      isMbError("INVALID_ARGUMENT"),
    );
    await using log = await SegmentLog.open(dir, { fsync: "never" });
    await assert.rejects(log.append([body(0)], -1), isMbError("INVALID_ARGUMENT"));
    // @ts-expect-error: not bytes
    await assert.rejects(log.append(["text"]), isMbError("INVALID_ARGUMENT"));
    await assert.rejects(log.read(-1), isMbError("INVALID_ARGUMENT"));
    await assert.rejects(log.read(0, { maxRecords: 0 }), isMbError("INVALID_ARGUMENT"));
    await assert.rejects(log.applyRetention({ maxRecords: -1 }), isMbError("INVALID_ARGUMENT"));
    assert.deepEqual(await log.append([body(0)]), { first: 0, last: 0 });
  });
});

Deno.test("SegmentLog appends and reads back 10,000 records", async () => {
  await withDir(async (dir) => {
    await using log = await SegmentLog.open(dir, { fsync: "never", segmentBytes: 256 * 1024 });
    const payload = new Uint8Array(100).fill(0x61);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) pending.push(log.append([payload]));
    await Promise.all(pending);
    assert.equal(log.nextOffset, 10_000);
    let next = 0;
    let count = 0;
    for (;;) {
      const records = await log.read(next, { maxRecords: 1000 });
      if (records.length === 0) break;
      for (const record of records) {
        assert.equal(record.offset, next++);
        assert.equal(record.body.length, 100);
      }
      count += records.length;
    }
    assert.equal(count, 10_000);
    assert.ok(log.segmentCount > 1);
  });
});
