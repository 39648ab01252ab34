// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * The JSON shapes of the durable operations (streams and queues): the
 * arguments and results of Command frames, and the rules for names. Client
 * and broker both import them, so the two sides cannot disagree.
 *
 * @module
 */

import { readU64, writeU64 } from "./_bytes.ts";
import { MbError } from "./errors.ts";

/**
 * The operations a Command frame names, with the JSON arguments each takes
 * and the JSON result its Ok frame carries.
 *
 * | op               | arguments                  | result                |
 * | ---------------- | -------------------------- | --------------------- |
 * | `stream.create`  | {@linkcode StreamConfig}   | {@linkcode StreamInfo} |
 * | `stream.info`    | `{ name }`                 | {@linkcode StreamInfo} |
 * | `stream.list`    | `{}`                       | `StreamInfo[]`        |
 * | `stream.delete`  | `{ name }`                 | `{ deleted: true }`   |
 * | `stream.purge`   | `{ name }`                 | `{ purged: number }`  |
 * | `queue.declare`  | {@linkcode QueueConfig}    | {@linkcode QueueInfo} |
 * | `queue.info`     | `{ name }`                 | {@linkcode QueueInfo} |
 * | `queue.list`     | `{}`                       | `QueueInfo[]`         |
 * | `queue.delete`   | `{ name }`                 | `{ deleted: true }`   |
 * | `queue.purge`    | `{ name }`                 | `{ purged: number }`  |
 *
 * @example
 * ```ts
 * import { COMMAND_OPS } from "./durable.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(COMMAND_OPS.includes("stream.create"));
 * ```
 */
export const COMMAND_OPS: readonly string[] = [
  "stream.create",
  "stream.info",
  "stream.list",
  "stream.delete",
  "stream.purge",
  "queue.declare",
  "queue.info",
  "queue.list",
  "queue.delete",
  "queue.purge",
];

/** How a stream is made: what it captures and what it keeps. */
export interface StreamConfig {
  /** The stream's name (see {@linkcode nameProblem}). */
  name: string;
  /** Topic patterns whose messages the stream stores; at least one. */
  topics: string[];
  /** Keep at most this many messages; absent or 0 for no limit. */
  maxMsgs?: number;
  /** Keep at most this many bytes on disk; absent or 0 for no limit. */
  maxBytes?: number;
  /** Drop messages older than this; absent or 0 for no limit. */
  maxAgeMs?: number;
}

/** A stream's configuration and state. */
export interface StreamInfo extends StreamConfig {
  /** Messages held (readers see these). */
  messages: number;
  /** Bytes the stream's records take in its log. */
  bytes: number;
  /** Offset of the oldest message held (equal to `nextOffset` when empty). */
  firstOffset: number;
  /** The offset the next message will get. */
  nextOffset: number;
  /** Readers attached now. */
  readers: number;
}

/** How a queue is made. */
export interface QueueConfig {
  /** The queue's name (see {@linkcode nameProblem}). */
  name: string;
  /** Topic patterns whose published messages the queue also takes. */
  topics?: string[];
  /**
   * Time a consumer has to ack a delivery before it is redelivered.
   *
   * @default {30000}
   */
  ackWaitMs?: number;
  /**
   * Deliveries before a message goes to the dead-letter queue (or is
   * dropped when there is none).
   *
   * @default {5}
   */
  maxDeliver?: number;
  /** The queue that takes messages delivered `maxDeliver` times. */
  deadLetter?: string;
  /** Refuse sends (`STORAGE_FULL`) while the queue holds this many bytes; absent or 0 for no limit. */
  maxBytes?: number;
}

/** A queue's configuration and state. */
export interface QueueInfo extends QueueConfig {
  /** Messages not yet settled (waiting and in flight). */
  messages: number;
  /** Messages delivered and not yet acked. */
  inFlight: number;
  /** Consumers attached now (push consumers and waiting fetches). */
  consumers: number;
  /** Messages moved to the dead-letter queue (or dropped) since start. */
  deadLettered: number;
}

const NAME_REGEXP = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/**
 * Why a stream or queue name is refused, or `undefined` when it is fine:
 * 1 to 128 characters from `A-Z a-z 0-9 _ - .`, not starting with a dot
 * (names become directory names in the store).
 *
 * @param name The name.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { nameProblem } from "./durable.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(nameProblem("orders"), undefined);
 * assert.ok(nameProblem("../etc") !== undefined);
 * ```
 */
export function nameProblem(name: string): string | undefined {
  if (typeof name !== "string") return "not a string";
  if (NAME_REGEXP.test(name)) return undefined;
  if (name.length === 0) return "empty";
  if (name.length > 128) return "longer than 128 characters";
  return "only A-Z, a-z, 0-9, '_', '-' and '.' are allowed, and not a leading '.'";
}

/**
 * Encodes the result of a confirmed publish that a stream stored: the
 * offset (u64), then the stream's name (UTF-8, the rest). A confirmed
 * publish no stream stored has an empty result.
 *
 * @param offset The offset.
 * @param stream The stream's name.
 * @returns The result bytes.
 *
 * @example
 * ```ts
 * import { decodeStoredResult, encodeStoredResult } from "./durable.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeStoredResult(12, "orders");
 * assert.deepEqual(decodeStoredResult(bytes), { offset: 12, stream: "orders" });
 * ```
 */
export function encodeStoredResult(offset: number, stream: string): Uint8Array {
  const name = new TextEncoder().encode(stream);
  const out = new Uint8Array(8 + name.length);
  writeU64(out, 0, offset);
  out.set(name, 8);
  return out;
}

/**
 * Decodes the result of a confirmed publish (see
 * {@linkcode encodeStoredResult}).
 *
 * @param result The Ok frame's result bytes.
 * @returns The offset and stream, or `undefined` for an empty result.
 * @throws {MbError} `FRAME_MALFORMED` for a result of 1 to 7 bytes.
 *
 * @example
 * ```ts
 * import { decodeStoredResult } from "./durable.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeStoredResult(new Uint8Array(0)), undefined);
 * ```
 */
export function decodeStoredResult(
  result: Uint8Array,
): { offset: number; stream: string } | undefined {
  if (result.length === 0) return undefined;
  if (result.length < 8) {
    throw new MbError("FRAME_MALFORMED", `Cannot decode publish result of ${result.length} bytes`);
  }
  return {
    offset: readU64(result, 0),
    stream: new TextDecoder().decode(result.subarray(8)),
  };
}
