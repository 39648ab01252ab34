// Copyright mb authors. MIT license.

/**
 * The on-disk record format of the segment log: encoding a batch of records
 * into one buffer, and checking a record read back.
 *
 * ## Record layout
 *
 * Records follow each other with no padding. All integers are big-endian
 * (network order, as in mb's wire protocol); the header is 25 bytes
 * ({@linkcode RECORD_HEADER_BYTES}):
 *
 * | bytes    | type | field                                                   |
 * | -------- | ---- | ------------------------------------------------------- |
 * | 0        | u8   | magic and format version, `0xA1` (version 1)            |
 * | 1..4     | u32  | CRC-32C of bytes 5 to the end of the body               |
 * | 5..8     | u32  | body length `L`                                         |
 * | 9..16    | u64  | offset                                                  |
 * | 17..24   | u64  | timestamp, milliseconds since the Unix epoch            |
 * | 25..25+L | L    | body, opaque (the stream layer's topic/headers/payload) |
 *
 * The checksum covers the length, offset, timestamp and body, so any torn or
 * flipped byte after the magic is caught. A zero-filled tail (what some file
 * systems leave after a crash) fails the magic check. Offsets and timestamps
 * are JavaScript numbers, exact up to `Number.MAX_SAFE_INTEGER` (2^53 - 1):
 * at a million records a second that is 285 years of offsets.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import type { SegmentLogRecoveryReason } from "./_types.ts";

/** Size of a record header on disk, in bytes; a record takes this plus its body. */
export const RECORD_HEADER_BYTES = 25;

/** Largest body a record can hold (its length is a u32). */
export const MAX_BODY_BYTES = 0xffffffff;

const MAGIC = 0xa1;
const TWO_32 = 0x1_0000_0000;

function readU32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

function writeU32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}

/** Reads a u64; values past 2^53 - 1 come back as -1. */
function readU64(b: Uint8Array, i: number): number {
  const hi = readU32(b, i);
  if (hi > 0x1fffff) return -1;
  return hi * TWO_32 + readU32(b, i + 4);
}

function writeU64(b: Uint8Array, i: number, v: number): void {
  writeU32(b, i, Math.floor(v / TWO_32));
  writeU32(b, i + 4, v >>> 0);
}

/**
 * Encodes one record per body into `buf` from byte `at`, with consecutive
 * offsets from `offset` and the same timestamp; `buf` must have room.
 * `onRecord`, if given, is told the byte position of each record first.
 * Returns the byte position after the last record.
 */
export function encodeRecords(
  buf: Uint8Array,
  at: number,
  bodies: readonly Uint8Array[],
  offset: number,
  timestamp: number,
  onRecord?: (offset: number, position: number) => void,
): number {
  let p = at;
  for (let j = 0; j < bodies.length; j++) {
    const body = bodies[j];
    onRecord?.(offset + j, p);
    buf[p] = MAGIC;
    writeU32(buf, p + 5, body.length);
    writeU64(buf, p + 9, offset + j);
    writeU64(buf, p + 17, timestamp);
    buf.set(body, p + RECORD_HEADER_BYTES);
    const end = p + RECORD_HEADER_BYTES + body.length;
    writeU32(buf, p + 1, crc32(buf.subarray(p + 5, end)));
    p = end;
  }
  return p;
}

/**
 * Checks the header of the record at `buf[h]`: that it is all in `buf`, its
 * magic, that the whole record fits in the `room` bytes left in the file, and
 * that its offset is `expected`. Returns the record's size (header and body)
 * or why it is not a good record; the checksum is left to
 * {@linkcode checksumMatches}.
 */
export function checkRecordHeader(
  buf: Uint8Array,
  h: number,
  room: number,
  expected: number,
): number | SegmentLogRecoveryReason {
  if (h + RECORD_HEADER_BYTES > buf.length) return "torn";
  if (buf[h] !== MAGIC) return "magic";
  const total = RECORD_HEADER_BYTES + readU32(buf, h + 5);
  if (total > room) return "torn";
  if (readU64(buf, h + 9) !== expected) return "offset";
  return total;
}

/** Whether the checksum of the `total`-byte record at `buf[h]` matches its bytes. */
export function checksumMatches(buf: Uint8Array, h: number, total: number): boolean {
  return crc32(buf.subarray(h + 5, h + total)) === readU32(buf, h + 1);
}

/** The timestamp of the record at `buf[h]`; `-1` when past 2^53 - 1. */
export function recordTimestamp(buf: Uint8Array, h: number): number {
  return readU64(buf, h + 17);
}
