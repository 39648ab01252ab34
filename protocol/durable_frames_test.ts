// Copyright mb authors. MIT license.
// The frames of the durable operations (0x10 and up): round trips through
// the encoder and both decoders, and malformed bodies.

import assert from "node:assert/strict";
import { decodeFrame } from "./decode.ts";
import { encodedLength, encodeFrame } from "./encode.ts";
import { MbError } from "./errors.ts";
import { FrameChunkDecoder } from "./frame_chunk_decoder.ts";
import { AckAction, type Frame, FrameType } from "./frames.ts";
import { encodeHeaders } from "./headers.ts";

const payload = new TextEncoder().encode("job 42");
const headers = encodeHeaders({ "trace-id": "t1" });
const BIG = Number.MAX_SAFE_INTEGER;

const FRAMES: Frame[] = [
  { type: FrameType.Command, requestId: 1, op: "stream.create", args: { name: "orders" } },
  { type: FrameType.Command, requestId: 2, op: "stream.list", args: null },
  {
    type: FrameType.StreamSubscribe,
    requestId: 3,
    sid: 7,
    stream: "orders",
    pattern: "orders/#",
    start: { kind: "offset", value: BIG },
    credit: 1000,
  },
  {
    type: FrameType.StreamSubscribe,
    requestId: 4,
    sid: 8,
    stream: "s",
    pattern: "",
    start: { kind: "new" },
    credit: 1,
  },
  {
    type: FrameType.StreamSubscribe,
    requestId: 5,
    sid: 9,
    stream: "s",
    pattern: "",
    start: { kind: "time", value: 1_700_000_000_000 },
    credit: 0xffffffff,
  },
  {
    type: FrameType.StreamDeliver,
    sid: 7,
    offset: 2 ** 40 + 3,
    timestamp: 1_700_000_000_123,
    topic: "orders/new",
    replyTo: "",
    headers,
    payload,
  },
  { type: FrameType.Credit, sid: 7, credit: 500 },
  { type: FrameType.QueueConsume, requestId: 6, sid: 10, queue: "jobs", prefetch: 16 },
  {
    type: FrameType.QueueDeliver,
    sid: 10,
    messageId: 99,
    deliveryCount: 2,
    timestamp: 5,
    topic: "jobs",
    replyTo: "r/1",
    headers: undefined,
    payload,
  },
  {
    type: FrameType.Ack,
    requestId: 7,
    queue: "jobs",
    messageId: BIG,
    action: AckAction.Nack,
    delayMs: 250,
  },
  {
    type: FrameType.Ack,
    requestId: 0,
    queue: "jobs",
    messageId: 1,
    action: AckAction.Ack,
    delayMs: 0,
  },
  { type: FrameType.Fetch, requestId: 8, sid: 11, queue: "jobs", max: 10, waitMs: 30000 },
  {
    type: FrameType.QueueSend,
    requestId: 9,
    queue: "jobs",
    topic: "",
    replyTo: "",
    headers,
    payload,
  },
];

function plain(frame: Frame): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(frame)) {
    out[key] = value instanceof Uint8Array ? Array.from(value) : value;
  }
  return out;
}

Deno.test("decodeFrame reads back every durable frame encodeFrame writes", () => {
  for (const frame of FRAMES) {
    const bytes = encodeFrame(frame);
    assert.equal(bytes.length, encodedLength(frame));
    const decoded = decodeFrame(bytes[4], bytes.subarray(5));
    assert.deepStrictEqual(plain(decoded), plain(frame), `type ${frame.type}`);
  }
});

Deno.test("FrameChunkDecoder decodes durable frames split anywhere", async () => {
  const bytes = new Uint8Array(FRAMES.flatMap((frame) => [...encodeFrame(frame)]));
  for (let split = 1; split < bytes.length; split += 7) {
    const batches = await Array.fromAsync(
      ReadableStream.from([bytes.subarray(0, split), bytes.subarray(split)])
        .pipeThrough(new FrameChunkDecoder()),
    );
    assert.deepStrictEqual(batches.flat().map(plain), FRAMES.map(plain), `split ${split}`);
  }
});

function malformed(type: number, body: number[], detail: RegExp): void {
  assert.throws(() => decodeFrame(type, new Uint8Array(body)), (error) => {
    assert.ok(error instanceof MbError);
    assert.equal(error.code, "FRAME_MALFORMED");
    assert.match(error.message, detail);
    return true;
  });
}

Deno.test("decodeFrame rejects malformed durable frames with FRAME_MALFORMED", () => {
  // A stream subscribe with an unknown start kind (9).
  malformed(
    FrameType.StreamSubscribe,
    [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x73, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    /unknown start kind 9/,
  );
  // An offset beyond 2^53.
  malformed(
    FrameType.StreamSubscribe,
    [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x73, 0, 0, 3, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    /beyond 2\^53/,
  );
  // An ack with action 7.
  malformed(
    FrameType.Ack,
    [0, 0, 0, 1, 0, 1, 0x71, 0, 0, 0, 0, 0, 0, 0, 1, 7, 0, 0, 0, 0],
    /unknown ack action 7/,
  );
  // Command arguments that are not JSON.
  malformed(FrameType.Command, [0, 0, 0, 1, 0, 1, 0x78, 0x7b], /not JSON/);
  // Trailing bytes after a credit frame's fields.
  malformed(FrameType.Credit, [0, 0, 0, 1, 0, 0, 0, 1, 0], /9 bytes, 8 expected/);
  // A fetch cut short.
  malformed(FrameType.Fetch, [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x71, 0, 0], /expected/);
});
