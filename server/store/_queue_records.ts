// Copyright mb authors. MIT license.

/**
 * The records of a queue's state log and their replay. Each record is one
 * small body; the first byte says what it is:
 *
 * | kind | bytes                                   | meaning                                      |
 * | ---- | --------------------------------------- | -------------------------------------------- |
 * | 1    | id u64                                  | message `id` delivered once more             |
 * | 2    | id u64                                  | message `id` settled (acked, dead-lettered)  |
 * | 3    | from u64, to u64                        | every message in `[from, to)` settled (purge) |
 * | 4    | hi u64, n u32, n × (id u64, count u32), m u32, m × id u64 | checkpoint   |
 *
 * The state they describe ({@linkcode QueueImage}): below `hi`, a message is
 * unsettled exactly when it has a delivery count; from `hi` on, a message is
 * unsettled unless it is in `settled`. A checkpoint replaces everything
 * before it, so replay may start anywhere before the last checkpoint.
 *
 * @module
 */

import { readU32, readU64, writeU32, writeU64 } from "../../protocol/_bytes.ts";
import { MbError } from "../../protocol/errors.ts";
import type { DurableLog } from "./durable_log.ts";

const DELIVER = 1;
const SETTLE = 2;
const PURGE = 3;
const CHECKPOINT = 4;

/** How many records one read of the state log returns at most during replay. */
const REPLAY_RECORDS = 8192;
const REPLAY_BYTES = 8 * 1024 * 1024;

/** A queue's settlement state, as the state log records it. */
export interface QueueImage {
  /** Every message below it was delivered at least once or settled. */
  hi: number;
  /** Delivery counts of the delivered, unsettled messages. */
  counts: Map<number, number>;
  /** Settled messages at or above `hi`. */
  settled: Set<number>;
}

const scratch = new Uint8Array(17);

/** A "delivered" record; the bytes are only valid until the next encode. */
export function encodeDeliver(id: number): Uint8Array {
  scratch[0] = DELIVER;
  writeU64(scratch, 1, id);
  return scratch.subarray(0, 9);
}

/** A "settled" record; the bytes are only valid until the next encode. */
export function encodeSettle(id: number): Uint8Array {
  scratch[0] = SETTLE;
  writeU64(scratch, 1, id);
  return scratch.subarray(0, 9);
}

/** A "range settled" record; the bytes are only valid until the next encode. */
export function encodePurge(from: number, to: number): Uint8Array {
  scratch[0] = PURGE;
  writeU64(scratch, 1, from);
  writeU64(scratch, 9, to);
  return scratch.subarray(0, 17);
}

/** Size of a checkpoint with `counts` counted and `settled` settled messages. */
export function checkpointSize(counts: number, settled: number): number {
  return 1 + 8 + 4 + counts * 12 + 4 + settled * 8;
}

/**
 * A checkpoint: the whole state. `counts` may be split over several maps
 * (their ids must not overlap).
 */
export function encodeCheckpoint(
  hi: number,
  counts: readonly Map<number, number>[],
  settled: Set<number>,
): Uint8Array {
  let n = 0;
  for (const map of counts) n += map.size;
  const out = new Uint8Array(checkpointSize(n, settled.size));
  out[0] = CHECKPOINT;
  let at = writeU64(out, 1, hi);
  at = writeU32(out, at, n);
  for (const map of counts) {
    for (const [id, count] of map) {
      at = writeU64(out, at, id);
      at = writeU32(out, at, count);
    }
  }
  at = writeU32(out, at, settled.size);
  for (const id of settled) at = writeU64(out, at, id);
  return out;
}

function malformed(offset: number, why: string): MbError {
  return new MbError("STORAGE_FAILED", `Cannot replay queue state record ${offset}: ${why}`);
}

function readId(body: Uint8Array, at: number, offset: number): number {
  const id = readU64(body, at);
  if (id < 0) throw malformed(offset, "id out of range");
  return id;
}

/**
 * Applies one record to `image`.
 *
 * @throws {MbError} `STORAGE_FAILED` for a record of unknown kind or size.
 */
export function applyRecord(image: QueueImage, body: Uint8Array, offset: number): void {
  const kind = body[0];
  if ((kind === DELIVER || kind === SETTLE) && body.length === 9) {
    const id = readId(body, 1, offset);
    if (kind === DELIVER) {
      image.counts.set(id, (image.counts.get(id) ?? 0) + 1);
      if (id >= image.hi) image.hi = id + 1;
    } else {
      image.counts.delete(id);
      if (id >= image.hi) image.settled.add(id);
    }
    return;
  }
  if (kind === PURGE && body.length === 17) {
    const from = readId(body, 1, offset);
    const to = readId(body, 9, offset);
    for (const id of image.counts.keys()) {
      if (id >= from && id < to) image.counts.delete(id);
    }
    if (to > image.hi) image.hi = to;
    return;
  }
  if (kind === CHECKPOINT && body.length >= 17) {
    const hi = readId(body, 1, offset);
    const n = readU32(body, 9);
    let at = 13;
    if (body.length < at + n * 12 + 4) throw malformed(offset, "checkpoint cut short");
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++, at += 12) {
      counts.set(readId(body, at, offset), readU32(body, at + 8));
    }
    const m = readU32(body, at);
    at += 4;
    if (body.length !== at + m * 8) throw malformed(offset, "checkpoint of the wrong size");
    const settled = new Set<number>();
    for (let i = 0; i < m; i++, at += 8) settled.add(readId(body, at, offset));
    image.hi = hi;
    image.counts = counts;
    image.settled = settled;
    return;
  }
  throw malformed(offset, `unknown kind ${kind} of ${body.length} bytes`);
}

/**
 * Replays the whole state log into an image; settled ids that ended up
 * below `hi` are dropped (they are implied).
 *
 * @throws {MbError} `STORAGE_FAILED` for a bad record or a failed read.
 *
 * @example Two deliveries, one ack, then a purge of the never-delivered rest
 * ```ts
 * import { encodeDeliver, encodePurge, encodeSettle, replayState } from "./_queue_records.ts";
 * import { MemoryLog } from "./memory_log.ts";
 * import assert from "node:assert/strict";
 *
 * const log = new MemoryLog();
 * // Each encode reuses one buffer: append before the next encode.
 * await log.append([encodeDeliver(0)]);
 * await log.append([encodeDeliver(1)]);
 * await log.append([encodeSettle(0)]);
 * await log.append([encodePurge(2, 5)]);
 * const image = await replayState(log);
 * assert.equal(image.hi, 5);
 * assert.deepEqual([...image.counts], [[1, 1]]);
 * ```
 */
export async function replayState(log: DurableLog): Promise<QueueImage> {
  const image: QueueImage = { hi: 0, counts: new Map(), settled: new Set() };
  let from = log.firstOffset;
  for (;;) {
    const records = await log.read(from, { maxRecords: REPLAY_RECORDS, maxBytes: REPLAY_BYTES });
    if (records.length === 0) break;
    for (let i = 0; i < records.length; i++) {
      applyRecord(image, records[i].body, records[i].offset);
    }
    from = records[records.length - 1].offset + 1;
  }
  for (const id of image.settled) {
    if (id < image.hi) image.settled.delete(id);
  }
  return image;
}
