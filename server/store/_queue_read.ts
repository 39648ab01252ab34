// Copyright mb authors. MIT license.

/**
 * The reads a queue makes of its messages log besides the page of new
 * messages: the bodies of messages to deliver again, and at open the sizes
 * of what it holds.
 *
 * @module
 */

import type { LogRecord } from "./_types.ts";
import type { DurableLog } from "./durable_log.ts";

/** Most records one read returns while measuring. */
const MEASURE_RECORDS = 8192;

/**
 * Reads the records of `ids` (ascending), one read per run of consecutive
 * ids. Ids no longer in the log are missing from the result.
 */
export async function readRecords(
  log: DurableLog,
  ids: readonly number[],
): Promise<Map<number, LogRecord>> {
  const out = new Map<number, LogRecord>();
  let i = 0;
  while (i < ids.length) {
    let j = i + 1;
    while (j < ids.length && ids[j] === ids[j - 1] + 1) j++;
    const end = ids[j - 1] + 1;
    let from = ids[i];
    while (from < end) {
      const records = await log.read(from, { maxRecords: end - from });
      if (records.length === 0) break;
      for (const record of records) if (record.offset < end) out.set(record.offset, record);
      from = records[records.length - 1].offset + 1;
    }
    i = j;
  }
  return out;
}

/**
 * Reads the records below `cursor` for their sizes: returns their body bytes
 * in all, and the size of each of `wanted`.
 */
export async function measureBelow(
  log: DurableLog,
  cursor: number,
  wanted: ReadonlySet<number>,
): Promise<{ bytes: number; sizes: Map<number, number> }> {
  const sizes = new Map<number, number>();
  let bytes = 0;
  let from = log.firstOffset;
  while (from < cursor) {
    const records = await log.read(from, { maxRecords: Math.min(MEASURE_RECORDS, cursor - from) });
    if (records.length === 0) break;
    for (const record of records) {
      bytes += record.body.length;
      if (wanted.has(record.offset)) sizes.set(record.offset, record.body.length);
    }
    from = records[records.length - 1].offset + 1;
  }
  return { bytes, sizes };
}
