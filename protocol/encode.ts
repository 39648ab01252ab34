// Copyright mb authors. MIT license.
// This module is browser compatible.

import { toUtf8, utf8Length, writeU16, writeU32, writeU64, writeUtf8 } from "./_bytes.ts";
import { MbError } from "./errors.ts";
import { type Frame, FrameType, START_KINDS } from "./frames.ts";

/** Bytes before a deliver frame's message section: length, type, sid. */
export const DELIVER_HEADER_BYTES = 9;

const MAX_ERROR_MESSAGE_BYTES = 4096;

/**
 * Number of bytes {@linkcode encodeInto} writes for `frame`, length prefix
 * included.
 *
 * @param frame The frame to measure.
 * @returns Its encoded size.
 * @throws {MbError} `INVALID_ARGUMENT` when a string field is longer than
 * 65535 bytes.
 *
 * @example
 * ```ts
 * import { encodedLength, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodedLength({ type: FrameType.Ping }), 5);
 * ```
 */
export function encodedLength(frame: Frame): number {
  return 5 + bodyLength(frame);
}

/**
 * Encodes `frame` into `out` at `offset`, which must have room for
 * {@linkcode encodedLength} bytes.
 *
 * @param frame The frame to encode.
 * @param out The buffer to write into.
 * @param offset Where to start.
 * @returns The offset just after the frame.
 *
 * @example Two frames into one buffer
 * ```ts
 * import { encodedLength, encodeInto, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const ping = { type: FrameType.Ping } as const;
 * const pong = { type: FrameType.Pong } as const;
 * const out = new Uint8Array(encodedLength(ping) + encodedLength(pong));
 * const end = encodeInto(pong, out, encodeInto(ping, out, 0));
 * assert.equal(end, 10);
 * assert.deepEqual([...out], [0, 0, 0, 1, 9, 0, 0, 0, 1, 10]);
 * ```
 */
export function encodeInto(frame: Frame, out: Uint8Array, offset: number): number {
  const body = bodyLength(frame);
  let at = writeU32(out, offset, body + 1);
  out[at++] = frame.type;
  switch (frame.type) {
    case FrameType.Hello:
    case FrameType.Info: {
      out[at++] = frame.version;
      const json = toUtf8(
        JSON.stringify(frame.type === FrameType.Hello ? frame.hello : frame.info),
      );
      out.set(json, at);
      return at + json.length;
    }
    case FrameType.Publish:
      at = writeU32(out, at, frame.requestId);
      return writeMessage(frame.topic, frame.replyTo, frame.headers, frame.payload, out, at);
    case FrameType.Deliver:
      at = writeU32(out, at, frame.sid);
      return writeMessage(frame.topic, frame.replyTo, frame.headers, frame.payload, out, at);
    case FrameType.Subscribe:
      at = writeU32(out, at, frame.requestId);
      at = writeU32(out, at, frame.sid);
      at = writeString(frame.pattern, out, at);
      return writeString(frame.queue, out, at);
    case FrameType.Unsubscribe:
      at = writeU32(out, at, frame.requestId);
      return writeU32(out, at, frame.sid);
    case FrameType.Ok:
      at = writeU32(out, at, frame.requestId);
      out.set(frame.result, at);
      return at + frame.result.length;
    case FrameType.Error:
      at = writeU32(out, at, frame.requestId);
      at = writeString(frame.code, out, at);
      return writeString(errorMessage(frame.message), out, at);
    case FrameType.Ping:
    case FrameType.Pong:
      return at;
    case FrameType.Goodbye:
      return writeUtf8(frame.reason, utf8Length(frame.reason), out, at);
    case FrameType.Command: {
      at = writeU32(out, at, frame.requestId);
      at = writeString(frame.op, out, at);
      const json = toUtf8(JSON.stringify(frame.args ?? null));
      out.set(json, at);
      return at + json.length;
    }
    case FrameType.StreamSubscribe:
      at = writeU32(out, at, frame.requestId);
      at = writeU32(out, at, frame.sid);
      at = writeString(frame.stream, out, at);
      at = writeString(frame.pattern, out, at);
      out[at++] = START_KINDS.indexOf(frame.start.kind);
      at = writeU64(out, at, "value" in frame.start ? frame.start.value : 0);
      return writeU32(out, at, frame.credit);
    case FrameType.StreamDeliver:
      at = writeU32(out, at, frame.sid);
      at = writeU64(out, at, frame.offset);
      at = writeU64(out, at, frame.timestamp);
      return writeMessage(frame.topic, frame.replyTo, frame.headers, frame.payload, out, at);
    case FrameType.Credit:
      at = writeU32(out, at, frame.sid);
      return writeU32(out, at, frame.credit);
    case FrameType.QueueConsume:
      at = writeU32(out, at, frame.requestId);
      at = writeU32(out, at, frame.sid);
      at = writeString(frame.queue, out, at);
      return writeU32(out, at, frame.prefetch);
    case FrameType.QueueDeliver:
      at = writeU32(out, at, frame.sid);
      at = writeU64(out, at, frame.messageId);
      at = writeU32(out, at, frame.deliveryCount);
      at = writeU64(out, at, frame.timestamp);
      return writeMessage(frame.topic, frame.replyTo, frame.headers, frame.payload, out, at);
    case FrameType.Ack:
      at = writeU32(out, at, frame.requestId);
      at = writeString(frame.queue, out, at);
      at = writeU64(out, at, frame.messageId);
      out[at++] = frame.action;
      return writeU32(out, at, frame.delayMs);
    case FrameType.Fetch:
      at = writeU32(out, at, frame.requestId);
      at = writeU32(out, at, frame.sid);
      at = writeString(frame.queue, out, at);
      at = writeU32(out, at, frame.max);
      return writeU32(out, at, frame.waitMs);
    case FrameType.QueueSend:
      at = writeU32(out, at, frame.requestId);
      at = writeString(frame.queue, out, at);
      return writeMessage(frame.topic, frame.replyTo, frame.headers, frame.payload, out, at);
  }
}

/**
 * Encodes one frame into a new, exactly sized buffer.
 *
 * @param frame The frame to encode.
 * @returns The frame's bytes.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeFrame({
 *   type: FrameType.Publish,
 *   requestId: 0,
 *   topic: "a/b",
 *   replyTo: "",
 *   headers: undefined,
 *   payload: new Uint8Array([1, 2]),
 * });
 * assert.equal(bytes.length, 4 + 1 + 4 + 2 + 3 + 2 + 2 + 2);
 * ```
 */
export function encodeFrame(frame: Frame): Uint8Array {
  const out = new Uint8Array(encodedLength(frame));
  encodeInto(frame, out, 0);
  return out;
}

/**
 * Writes a deliver frame whose message section is already encoded: the
 * server's fan-out path shares one publish's message bytes across every
 * subscriber and writes only the 9-byte header per delivery.
 *
 * @param out The buffer to write into; needs
 * `DELIVER_HEADER_BYTES + message.length` bytes of room.
 * @param offset Where to start.
 * @param sid The subscription id.
 * @param message A publish frame's `message` section.
 * @returns The offset just after the frame.
 *
 * @example
 * ```ts
 * import { decodeFrame, DELIVER_HEADER_BYTES, encodeDeliverInto, encodeFrame, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const publish = encodeFrame({
 *   type: FrameType.Publish, requestId: 0, topic: "t", replyTo: "",
 *   headers: undefined, payload: new Uint8Array([7]),
 * });
 * const message = publish.subarray(9); // after length, type and request id
 * const out = new Uint8Array(DELIVER_HEADER_BYTES + message.length);
 * encodeDeliverInto(out, 0, 42, message);
 * const frame = decodeFrame(out[4], out.subarray(5));
 * assert.equal(frame.type, FrameType.Deliver);
 * assert.equal(frame.type === FrameType.Deliver && frame.sid, 42);
 * ```
 */
export function encodeDeliverInto(
  out: Uint8Array,
  offset: number,
  sid: number,
  message: Uint8Array,
): number {
  let at = writeU32(out, offset, message.length + 5);
  out[at++] = FrameType.Deliver;
  at = writeU32(out, at, sid);
  out.set(message, at);
  return at + message.length;
}

/** Bytes before a stream deliver frame's message section: length, type, sid, offset, timestamp. */
export const STREAM_DELIVER_HEADER_BYTES = 25;

/**
 * Bytes before a queue deliver frame's message section: length, type, sid,
 * message id, delivery count, timestamp.
 */
export const QUEUE_DELIVER_HEADER_BYTES = 29;

/**
 * Writes a stream deliver frame around an already encoded message section
 * (what a stream stores for each record).
 *
 * @param out The buffer, with {@linkcode STREAM_DELIVER_HEADER_BYTES} plus
 * the section's length free from `offset`.
 * @param offset Where to write.
 * @param sid The reader's subscription id.
 * @param recordOffset The message's offset in the stream.
 * @param timestamp When it was stored, in milliseconds since the epoch.
 * @param message The message section.
 * @returns The offset after the frame.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeMessageSection, encodeStreamDeliverInto, FrameType, STREAM_DELIVER_HEADER_BYTES } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const message = encodeMessageSection("t", "", undefined, new Uint8Array([7]));
 * const out = new Uint8Array(STREAM_DELIVER_HEADER_BYTES + message.length);
 * encodeStreamDeliverInto(out, 0, 3, 41, 1700000000000, message);
 * const frame = decodeFrame(out[4], out.subarray(5));
 * assert.equal(frame.type === FrameType.StreamDeliver && frame.offset, 41);
 * ```
 */
export function encodeStreamDeliverInto(
  out: Uint8Array,
  offset: number,
  sid: number,
  recordOffset: number,
  timestamp: number,
  message: Uint8Array,
): number {
  let at = writeU32(out, offset, message.length + STREAM_DELIVER_HEADER_BYTES - 4);
  out[at++] = FrameType.StreamDeliver;
  at = writeU32(out, at, sid);
  at = writeU64(out, at, recordOffset);
  at = writeU64(out, at, timestamp);
  out.set(message, at);
  return at + message.length;
}

/**
 * Writes a queue deliver frame around an already encoded message section.
 *
 * @param out The buffer, with {@linkcode QUEUE_DELIVER_HEADER_BYTES} plus the
 * section's length free from `offset`.
 * @param offset Where to write.
 * @param sid The consumer's (or fetch's) subscription id.
 * @param messageId The message's id in its queue.
 * @param deliveryCount Deliveries so far, this one included.
 * @param timestamp When the queue stored it, in milliseconds since the epoch.
 * @param message The message section.
 * @returns The offset after the frame.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeMessageSection, encodeQueueDeliverInto, FrameType, QUEUE_DELIVER_HEADER_BYTES } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const message = encodeMessageSection("jobs", "", undefined, new Uint8Array([1]));
 * const out = new Uint8Array(QUEUE_DELIVER_HEADER_BYTES + message.length);
 * encodeQueueDeliverInto(out, 0, 5, 9, 2, 1700000000000, message);
 * const frame = decodeFrame(out[4], out.subarray(5));
 * assert.equal(frame.type === FrameType.QueueDeliver && frame.deliveryCount, 2);
 * ```
 */
export function encodeQueueDeliverInto(
  out: Uint8Array,
  offset: number,
  sid: number,
  messageId: number,
  deliveryCount: number,
  timestamp: number,
  message: Uint8Array,
): number {
  let at = writeU32(out, offset, message.length + QUEUE_DELIVER_HEADER_BYTES - 4);
  out[at++] = FrameType.QueueDeliver;
  at = writeU32(out, at, sid);
  at = writeU64(out, at, messageId);
  at = writeU32(out, at, deliveryCount);
  at = writeU64(out, at, timestamp);
  out.set(message, at);
  return at + message.length;
}

/**
 * Encodes a message section (topic, reply-to, headers, payload) on its own:
 * the bytes a publish carries after its request id, and what streams and
 * queues store.
 *
 * @param topic The topic.
 * @param replyTo The reply-to, or `""`.
 * @param headers The encoded header block, or `undefined`.
 * @param payload The payload.
 * @returns The section.
 * @throws {MbError} `INVALID_ARGUMENT` when a string is over 65535 bytes.
 *
 * @example
 * ```ts
 * import { encodeMessageSection } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * // u16 topic length, "t", u16 reply-to length, u16 header length, payload
 * assert.deepEqual(
 *   encodeMessageSection("t", "", undefined, new Uint8Array([9])),
 *   new Uint8Array([0, 1, 116, 0, 0, 0, 0, 9]),
 * );
 * ```
 */
export function encodeMessageSection(
  topic: string,
  replyTo: string,
  headers: Uint8Array | undefined,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(messageLength(topic, replyTo, headers, payload));
  writeMessage(topic, replyTo, headers, payload, out, 0);
  return out;
}

function bodyLength(frame: Frame): number {
  switch (frame.type) {
    case FrameType.Hello:
      return 1 + utf8Length(JSON.stringify(frame.hello));
    case FrameType.Info:
      return 1 + utf8Length(JSON.stringify(frame.info));
    case FrameType.Publish:
    case FrameType.Deliver:
      return 4 + messageLength(frame.topic, frame.replyTo, frame.headers, frame.payload);
    case FrameType.Subscribe:
      return 8 + stringLength(frame.pattern) + stringLength(frame.queue);
    case FrameType.Unsubscribe:
      return 8;
    case FrameType.Ok:
      return 4 + frame.result.length;
    case FrameType.Error:
      return 4 + stringLength(frame.code) + stringLength(errorMessage(frame.message));
    case FrameType.Ping:
    case FrameType.Pong:
      return 0;
    case FrameType.Goodbye:
      return utf8Length(frame.reason);
    case FrameType.Command:
      return 4 + stringLength(frame.op) + utf8Length(JSON.stringify(frame.args ?? null));
    case FrameType.StreamSubscribe:
      return 8 + stringLength(frame.stream) + stringLength(frame.pattern) + 1 + 8 + 4;
    case FrameType.StreamDeliver:
      return 4 + 8 + 8 + messageLength(frame.topic, frame.replyTo, frame.headers, frame.payload);
    case FrameType.Credit:
      return 8;
    case FrameType.QueueConsume:
      return 8 + stringLength(frame.queue) + 4;
    case FrameType.QueueDeliver:
      return 4 + 8 + 4 + 8 +
        messageLength(frame.topic, frame.replyTo, frame.headers, frame.payload);
    case FrameType.Ack:
      return 4 + stringLength(frame.queue) + 8 + 1 + 4;
    case FrameType.Fetch:
      return 8 + stringLength(frame.queue) + 8;
    case FrameType.QueueSend:
      return 4 + stringLength(frame.queue) +
        messageLength(frame.topic, frame.replyTo, frame.headers, frame.payload);
    default:
      throw new MbError(
        "FRAME_UNKNOWN",
        `Cannot encode frame: unknown type ${(frame as { type: number }).type}`,
      );
  }
}

function messageLength(
  topic: string,
  replyTo: string,
  headers: Uint8Array | undefined,
  payload: Uint8Array,
): number {
  return stringLength(topic) + stringLength(replyTo) + 2 + (headers?.length ?? 0) +
    payload.length;
}

function writeMessage(
  topic: string,
  replyTo: string,
  headers: Uint8Array | undefined,
  payload: Uint8Array,
  out: Uint8Array,
  at: number,
): number {
  at = writeString(topic, out, at);
  at = writeString(replyTo, out, at);
  if (headers === undefined) {
    at = writeU16(out, at, 0);
  } else {
    at = writeU16(out, at, headers.length);
    out.set(headers, at);
    at += headers.length;
  }
  out.set(payload, at);
  return at + payload.length;
}

function stringLength(text: string): number {
  const bytes = utf8Length(text);
  if (bytes > 0xffff) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Cannot encode frame: string of ${bytes} bytes exceeds 65535`,
    );
  }
  return 2 + bytes;
}

function writeString(text: string, out: Uint8Array, at: number): number {
  const bytes = utf8Length(text);
  at = writeU16(out, at, bytes);
  return writeUtf8(text, bytes, out, at);
}

function errorMessage(message: string): string {
  return message.length > MAX_ERROR_MESSAGE_BYTES / 3
    ? message.slice(0, MAX_ERROR_MESSAGE_BYTES / 3)
    : message;
}
