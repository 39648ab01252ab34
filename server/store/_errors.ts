// Copyright mb authors. MIT license.

/**
 * The errors of the segment log: checks of `SegmentLog`'s arguments, which
 * fail with `INVALID_ARGUMENT`, and the wrapping of a failed file operation
 * as `STORAGE_FAILED`.
 *
 * @module
 */

import { MbError } from "../../protocol/errors.ts";
import { MAX_BODY_BYTES, RECORD_HEADER_BYTES } from "./_record.ts";
import type { SegmentLogOptions, SegmentLogRetention } from "./_types.ts";

function isCount(value: unknown, min: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min;
}

/** An `INVALID_ARGUMENT` error with `message`. */
export function invalid(message: string): MbError {
  return new MbError("INVALID_ARGUMENT", message);
}

/** `err` as a `STORAGE_FAILED` error saying `action` failed; an `MbError` is kept as it is. */
export function storageError(action: string, err: unknown): MbError {
  if (err instanceof MbError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new MbError("STORAGE_FAILED", `${action}: ${detail}`, { cause: err });
}

/** Checks the options of `SegmentLog.open`; throws `INVALID_ARGUMENT`. */
export function checkOptions(options: SegmentLogOptions): void {
  const counts: [string, unknown, number][] = [
    ["segmentBytes", options.segmentBytes, 1],
    ["indexIntervalBytes", options.indexIntervalBytes, 1],
    ["fsyncIntervalMs", options.fsyncIntervalMs, 1],
    ["segmentMaxAgeMs", options.segmentMaxAgeMs, 0],
  ];
  for (const [name, value, min] of counts) {
    if (value !== undefined && !isCount(value, min)) {
      throw invalid(`Cannot open segment log: ${name} ${value} is not an integer >= ${min}`);
    }
  }
  const max = options.maxBytesOnDisk;
  if (max !== undefined && !(max >= 0)) {
    throw invalid(`Cannot open segment log: maxBytesOnDisk ${max} is not a number >= 0`);
  }
  const fsync = options.fsync;
  if (fsync !== undefined && fsync !== "always" && fsync !== "interval" && fsync !== "never") {
    throw invalid(
      `Cannot open segment log: fsync "${fsync}" is not "always", "interval" or "never"`,
    );
  }
}

/**
 * Checks the timestamp and the bodies (an array) of `SegmentLog.append`.
 * Returns the bytes the batch takes on disk, or the error.
 */
export function batchSize(bodies: Uint8Array[], timestamp: number): number | MbError {
  if (!isCount(timestamp, 0)) {
    return invalid(`Cannot append: timestamp ${timestamp} is not a safe integer >= 0`);
  }
  let size = 0;
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i];
    if (!(body instanceof Uint8Array) || body.length > MAX_BODY_BYTES) {
      return invalid(
        `Cannot append: body ${i} is not a Uint8Array of at most ${MAX_BODY_BYTES} bytes`,
      );
    }
    size += RECORD_HEADER_BYTES + body.length;
  }
  return size;
}

/** Checks the arguments of `SegmentLog.read`, defaults applied; throws `INVALID_ARGUMENT`. */
export function checkRead(fromOffset: number, maxRecords: number, maxBytes: number): void {
  if (!isCount(fromOffset, 0)) {
    throw invalid(`Cannot read: offset ${fromOffset} is not a safe integer >= 0`);
  }
  if (!isCount(maxRecords, 1)) {
    throw invalid(`Cannot read: maxRecords ${maxRecords} is not an integer >= 1`);
  }
  if (!(maxBytes >= 0)) throw invalid(`Cannot read: maxBytes ${maxBytes} is not a number >= 0`);
}

/** Checks the limits of `SegmentLog.applyRetention`; returns the error, if any. */
export function checkRetention(limits: SegmentLogRetention): MbError | undefined {
  const { maxRecords, maxBytes, maxAgeMs } = limits;
  for (
    const [name, value] of [["maxRecords", maxRecords], ["maxBytes", maxBytes], [
      "maxAgeMs",
      maxAgeMs,
    ]]
  ) {
    if (value !== undefined && !(typeof value === "number" && value >= 0)) {
      return invalid(`Cannot apply retention: ${name} ${value} is not a number >= 0`);
    }
  }
  return undefined;
}
