// Copyright mb authors. MIT license.
// This module is browser compatible.

import { readU16, readU32, readU64, readUtf8 } from "./_bytes.ts";
import { MbError } from "./errors.ts";
import { AckAction, type Frame, FrameType, START_KINDS } from "./frames.ts";

const EMPTY = new Uint8Array(0);

/**
 * Tells whether a byte is a frame type this version of the protocol knows.
 *
 * @param type The type byte.
 * @returns `true` for a known type.
 *
 * @example
 * ```ts
 * import { isKnownFrameType } from "./decode.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isKnownFrameType(3));
 * assert.ok(!isKnownFrameType(0x7f));
 * ```
 */
export function isKnownFrameType(type: number): boolean {
  return (type >= FrameType.Hello && type <= FrameType.Goodbye) ||
    (type >= FrameType.Command && type <= FrameType.QueueSend);
}

/**
 * Decodes the body of one frame (the bytes after the length and type).
 * Byte fields of the result (payload, headers, message) are views into
 * `body`; copy them to keep them past the caller's use of the buffer.
 *
 * @param type The frame's type byte.
 * @param body The frame's body.
 * @returns The decoded frame.
 * @throws {MbError} `FRAME_UNKNOWN` for an unknown type, `FRAME_MALFORMED` when
 * the fields do not fit the body.
 *
 * @example
 * ```ts
 * import { decodeFrame, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = decodeFrame(FrameType.Unsubscribe, new Uint8Array([0, 0, 0, 5, 0, 0, 0, 9]));
 * assert.deepEqual(frame, { type: FrameType.Unsubscribe, requestId: 5, sid: 9 });
 * ```
 */
export function decodeFrame(type: number, body: Uint8Array): Frame {
  switch (type) {
    case FrameType.Publish: {
      need(body, 4, type);
      const message = body.subarray(4);
      const m = readMessage(message, type);
      return {
        type: FrameType.Publish,
        requestId: readU32(body, 0),
        topic: m.topic,
        replyTo: m.replyTo,
        headers: m.headers,
        payload: m.payload,
        message,
      };
    }
    case FrameType.Deliver: {
      need(body, 4, type);
      const m = readMessage(body.subarray(4), type);
      return {
        type: FrameType.Deliver,
        sid: readU32(body, 0),
        topic: m.topic,
        replyTo: m.replyTo,
        headers: m.headers,
        payload: m.payload,
      };
    }
    case FrameType.Subscribe: {
      need(body, 10, type);
      const patternEnd = stringEnd(body, 8, type);
      const queueEnd = stringEnd(body, patternEnd, type);
      if (queueEnd !== body.length) throw malformed(type, "trailing bytes");
      return {
        type: FrameType.Subscribe,
        requestId: readU32(body, 0),
        sid: readU32(body, 4),
        pattern: readUtf8(body, 10, patternEnd),
        queue: readUtf8(body, patternEnd + 2, queueEnd),
      };
    }
    case FrameType.Unsubscribe:
      exactly(body, 8, type);
      return {
        type: FrameType.Unsubscribe,
        requestId: readU32(body, 0),
        sid: readU32(body, 4),
      };
    case FrameType.Ok:
      need(body, 4, type);
      return { type: FrameType.Ok, requestId: readU32(body, 0), result: body.subarray(4) };
    case FrameType.Error: {
      need(body, 6, type);
      const codeEnd = stringEnd(body, 4, type);
      const messageEnd = stringEnd(body, codeEnd, type);
      return {
        type: FrameType.Error,
        requestId: readU32(body, 0),
        code: readUtf8(body, 6, codeEnd),
        message: readUtf8(body, codeEnd + 2, messageEnd),
      };
    }
    case FrameType.Ping:
      exactly(body, 0, type);
      return { type: FrameType.Ping };
    case FrameType.Pong:
      exactly(body, 0, type);
      return { type: FrameType.Pong };
    case FrameType.Goodbye:
      return { type: FrameType.Goodbye, reason: readUtf8(body, 0, body.length) };
    case FrameType.Hello:
      need(body, 1, type);
      return { type: FrameType.Hello, version: body[0], hello: readJson(body, type) };
    case FrameType.Info:
      need(body, 1, type);
      return { type: FrameType.Info, version: body[0], info: readJson(body, type) };
    case FrameType.Command: {
      need(body, 6, type);
      const opEnd = stringEnd(body, 4, type);
      return {
        type: FrameType.Command,
        requestId: readU32(body, 0),
        op: readUtf8(body, 6, opEnd),
        args: readJsonValue(body, opEnd, type),
      };
    }
    case FrameType.StreamSubscribe: {
      need(body, 12, type);
      const streamEnd = stringEnd(body, 8, type);
      const patternEnd = stringEnd(body, streamEnd, type);
      exactly(body, patternEnd + 13, type);
      const kind = START_KINDS[body[patternEnd]];
      const value = u64(body, patternEnd + 1, type);
      if (kind === undefined) throw malformed(type, `unknown start kind ${body[patternEnd]}`);
      return {
        type: FrameType.StreamSubscribe,
        requestId: readU32(body, 0),
        sid: readU32(body, 4),
        stream: readUtf8(body, 10, streamEnd),
        pattern: readUtf8(body, streamEnd + 2, patternEnd),
        start: kind === "offset" || kind === "time" ? { kind, value } : { kind },
        credit: readU32(body, patternEnd + 9),
      };
    }
    case FrameType.StreamDeliver: {
      need(body, 20, type);
      const m = readMessage(body.subarray(20), type);
      return {
        type: FrameType.StreamDeliver,
        sid: readU32(body, 0),
        offset: u64(body, 4, type),
        timestamp: u64(body, 12, type),
        topic: m.topic,
        replyTo: m.replyTo,
        headers: m.headers,
        payload: m.payload,
      };
    }
    case FrameType.Credit:
      exactly(body, 8, type);
      return { type: FrameType.Credit, sid: readU32(body, 0), credit: readU32(body, 4) };
    case FrameType.QueueConsume: {
      need(body, 10, type);
      const queueEnd = stringEnd(body, 8, type);
      exactly(body, queueEnd + 4, type);
      return {
        type: FrameType.QueueConsume,
        requestId: readU32(body, 0),
        sid: readU32(body, 4),
        queue: readUtf8(body, 10, queueEnd),
        prefetch: readU32(body, queueEnd),
      };
    }
    case FrameType.QueueDeliver: {
      need(body, 24, type);
      const m = readMessage(body.subarray(24), type);
      return {
        type: FrameType.QueueDeliver,
        sid: readU32(body, 0),
        messageId: u64(body, 4, type),
        deliveryCount: readU32(body, 12),
        timestamp: u64(body, 16, type),
        topic: m.topic,
        replyTo: m.replyTo,
        headers: m.headers,
        payload: m.payload,
      };
    }
    case FrameType.Ack: {
      need(body, 6, type);
      const queueEnd = stringEnd(body, 4, type);
      exactly(body, queueEnd + 13, type);
      const action = body[queueEnd + 8];
      if (action !== AckAction.Ack && action !== AckAction.Nack) {
        throw malformed(type, `unknown ack action ${action}`);
      }
      return {
        type: FrameType.Ack,
        requestId: readU32(body, 0),
        queue: readUtf8(body, 6, queueEnd),
        messageId: u64(body, queueEnd, type),
        action,
        delayMs: readU32(body, queueEnd + 9),
      };
    }
    case FrameType.Fetch: {
      need(body, 10, type);
      const queueEnd = stringEnd(body, 8, type);
      exactly(body, queueEnd + 8, type);
      return {
        type: FrameType.Fetch,
        requestId: readU32(body, 0),
        sid: readU32(body, 4),
        queue: readUtf8(body, 10, queueEnd),
        max: readU32(body, queueEnd),
        waitMs: readU32(body, queueEnd + 4),
      };
    }
    case FrameType.QueueSend: {
      need(body, 6, type);
      const queueEnd = stringEnd(body, 4, type);
      const m = readMessage(body.subarray(queueEnd), type);
      return {
        type: FrameType.QueueSend,
        requestId: readU32(body, 0),
        queue: readUtf8(body, 6, queueEnd),
        topic: m.topic,
        replyTo: m.replyTo,
        headers: m.headers,
        payload: m.payload,
      };
    }
    default:
      throw new MbError("FRAME_UNKNOWN", `Cannot decode frame: unknown type ${type}`);
  }
}

interface MessageFields {
  topic: string;
  replyTo: string;
  headers: Uint8Array | undefined;
  payload: Uint8Array;
}

function readMessage(bytes: Uint8Array, type: number): MessageFields {
  const topicEnd = stringEnd(bytes, 0, type);
  const replyEnd = stringEnd(bytes, topicEnd, type);
  if (replyEnd + 2 > bytes.length) throw malformed(type, "header length missing");
  const headerLength = readU16(bytes, replyEnd);
  const headersEnd = replyEnd + 2 + headerLength;
  if (headersEnd > bytes.length) throw malformed(type, "headers overrun the frame");
  return {
    topic: readUtf8(bytes, 2, topicEnd),
    replyTo: replyEnd === topicEnd + 2 ? "" : readUtf8(bytes, topicEnd + 2, replyEnd),
    headers: headerLength === 0 ? undefined : bytes.subarray(replyEnd + 2, headersEnd),
    payload: headersEnd === bytes.length ? EMPTY : bytes.subarray(headersEnd),
  };
}

/** Offset just past a length-prefixed string starting at `at`. */
function stringEnd(bytes: Uint8Array, at: number, type: number): number {
  if (at + 2 > bytes.length) throw malformed(type, "string length missing");
  const end = at + 2 + readU16(bytes, at);
  if (end > bytes.length) throw malformed(type, "string overruns the frame");
  return end;
}

function readJson<T>(body: Uint8Array, type: number): T {
  try {
    const value = JSON.parse(readUtf8(body, 1, body.length));
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError("not an object");
    }
    return value as T;
  } catch (cause) {
    throw new MbError(
      "FRAME_MALFORMED",
      `Cannot decode frame of type ${type}: body is not a JSON object`,
      { cause },
    );
  }
}

function readJsonValue(body: Uint8Array, start: number, type: number): unknown {
  try {
    return JSON.parse(readUtf8(body, start, body.length));
  } catch (cause) {
    throw new MbError(
      "FRAME_MALFORMED",
      `Cannot decode frame of type ${type}: arguments are not JSON`,
      { cause },
    );
  }
}

function u64(body: Uint8Array, at: number, type: number): number {
  const value = readU64(body, at);
  if (value < 0) throw malformed(type, "64-bit value beyond 2^53");
  return value;
}

function need(body: Uint8Array, bytes: number, type: number): void {
  if (body.length < bytes) {
    throw malformed(type, `${body.length} bytes, at least ${bytes} expected`);
  }
}

function exactly(body: Uint8Array, bytes: number, type: number): void {
  if (body.length !== bytes) {
    throw malformed(type, `${body.length} bytes, ${bytes} expected`);
  }
}

function malformed(type: number, detail: string): MbError {
  return new MbError("FRAME_MALFORMED", `Cannot decode frame of type ${type}: ${detail}`);
}
