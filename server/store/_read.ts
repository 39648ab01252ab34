// Copyright mb authors. MIT license.

/**
 * Reads of a segment log: a range of records from a snapshot of its
 * segments, from disk through their sparse indexes, checking each record,
 * and retried past a segment that retention deletes meanwhile.
 *
 * @module
 */

import { MbError } from "../../protocol/errors.ts";
import { storageError } from "./_errors.ts";
import type { LogFiles } from "./_log_files.ts";
import {
  checkRecordHeader,
  checksumMatches,
  RECORD_HEADER_BYTES,
  recordTimestamp,
} from "./_record.ts";
import { FileWindow, type Segment } from "./_segment.ts";
import type { LogRecord } from "./_types.ts";

const READ_CHUNK_MIN_BYTES = 16 * 1024;
const READ_CHUNK_MAX_BYTES = 1024 * 1024;

/** Bounds and settings of one {@linkcode readLog}. */
export interface SegmentReadOptions {
  /** Most records to return. */
  maxRecords: number;
  /** Most body bytes to return; the first record is returned whatever its size. */
  maxBytes: number;
  /** Whether to check each record's checksum. */
  verify: boolean;
}

/** One read: its options, and what it has found so far (kept across its retries). */
interface ReadRun extends SegmentReadOptions {
  /** Bytes to read from a file at a time. */
  chunk: number;
  /** The records found, in offset order. */
  records: LogRecord[];
  /** Sum of their body lengths. */
  bytes: number;
}

/**
 * Reads records of `files` in offset order, starting at the first offset at
 * or after `fromOffset` that still exists, within `options`; see
 * `SegmentLog.read`.
 */
export async function readLog(
  files: LogFiles,
  fromOffset: number,
  options: SegmentReadOptions,
): Promise<LogRecord[]> {
  const { maxRecords, maxBytes } = options;
  // Enough for the records before the first one and the bounds, within
  // limits; a read of few records sizes by the log's average record, so it
  // does not read (and allocate) a whole maxBytes for them. A short guess
  // costs one more read, not a wrong result.
  const average = files.records > 0 ? Math.ceil(files.bytes / files.records) : 0;
  const bounded = maxBytes + RECORD_HEADER_BYTES * Math.min(maxRecords, 4096);
  const expected = average > 0
    ? Math.min(bounded, Math.ceil(maxRecords * average * 1.25))
    : bounded;
  const chunk = Math.min(
    READ_CHUNK_MAX_BYTES,
    Math.max(READ_CHUNK_MIN_BYTES, files.indexInterval + expected),
  );
  const run: ReadRun = { ...options, chunk, records: [], bytes: 0 };
  const out = run.records;
  let from = fromOffset;
  for (let attempt = 0;; attempt++) {
    try {
      await readSegments(files.segments, from, run);
      return out;
    } catch (err) {
      // Retention deleted a segment after we picked it: retry past it.
      if (!(err instanceof Deno.errors.NotFound) || attempt >= 16) {
        if (out.length > 0 && err instanceof MbError) return out;
        throw storageError(`Cannot read segment log "${files.dir}" from offset ${from}`, err);
      }
      if (out.length > 0) from = out[out.length - 1].offset + 1;
    }
  }
}

/** The error for a bad record of `seg` at byte `pos`, which should have offset `offset`. */
function corrupt(seg: Segment, pos: number, offset: number, why: string): MbError {
  return new MbError(
    "STORAGE_FAILED",
    `Cannot read record ${offset} at byte ${pos} of "${seg.path}": ${why}`,
  );
}

/**
 * Reads records in offset order into `run`, from the first one at or after
 * `from`, until a bound of `run` is hit or the records of
 * `segments` (a snapshot of the log's list, oldest first) end.
 */
async function readSegments(
  segments: readonly Segment[],
  from: number,
  run: ReadRun,
): Promise<void> {
  // The last segment whose base is <= from, or the first one.
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segments[mid].base <= from) lo = mid;
    else hi = mid - 1;
  }
  for (let i = lo; i < segments.length; i++) {
    const seg = segments[i];
    // Snapshot what is published now; the segment may grow meanwhile.
    const count = seg.count;
    const end = seg.size;
    if (count === 0 || seg.base + count <= from) continue;
    if (await readSegment(seg, Math.max(from, seg.base), end, run)) return;
  }
}

/** Reads records of `seg` from offset `target` up to byte `end`; true when a bound was hit. */
async function readSegment(
  seg: Segment,
  target: number,
  end: number,
  run: ReadRun,
): Promise<boolean> {
  const [rel, start] = seg.floor(target - seg.base);
  const out = run.records;
  const file = await Deno.open(seg.path, { read: true });
  try {
    const window = new FileWindow(file, end, run.chunk);
    let pos = start;
    let expected = seg.base + rel;
    while (pos < end) {
      let h = await window.at(pos, RECORD_HEADER_BYTES);
      const total = checkRecordHeader(window.buf, h, end - pos, expected);
      if (typeof total === "string") throw corrupt(seg, pos, expected, "bad record header");
      if (expected >= target) {
        const length = total - RECORD_HEADER_BYTES;
        if (out.length > 0 && run.bytes + length > run.maxBytes) return true;
        h = await window.at(pos, total);
        if (h + total > window.buf.length) throw corrupt(seg, pos, expected, "file too short");
        if (run.verify && !checksumMatches(window.buf, h, total)) {
          throw corrupt(seg, pos, expected, "checksum mismatch");
        }
        out.push({
          offset: expected,
          timestamp: recordTimestamp(window.buf, h),
          body: window.buf.subarray(h + RECORD_HEADER_BYTES, h + total),
        });
        run.bytes += length;
        if (out.length >= run.maxRecords) return true;
      }
      pos += total;
      expected++;
    }
    return false;
  } finally {
    file.close();
  }
}
