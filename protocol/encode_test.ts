// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { decodeFrame } from "./decode.ts";
import {
  DELIVER_HEADER_BYTES,
  encodeDeliverInto,
  encodedLength,
  encodeFrame,
  encodeInto,
} from "./encode.ts";
import { MbError } from "./errors.ts";
import { FrameBatch } from "./frame_batch.ts";
import { type DeliverFrame, type Frame, FrameType, type PublishFrame } from "./frames.ts";
import { encodeHeaders } from "./headers.ts";

const utf8 = new TextEncoder();

const FRAMES: Frame[] = [
  { type: FrameType.Hello, version: 1, hello: {} },
  { type: FrameType.Hello, version: 255, hello: { name: "ñame", token: "t", lang: "mb.ts/0.1" } },
  {
    type: FrameType.Info,
    version: 1,
    info: {
      serverId: "5e1c",
      serverVersion: "0.1.0",
      clientId: 12,
      maxPayloadBytes: 1048576,
      maxFrameBytes: 1048576 + 68618,
      maxSubscriptions: 10000,
      pingIntervalMs: 30000,
    },
  },
  {
    type: FrameType.Publish,
    requestId: 0,
    topic: "a/b",
    replyTo: "",
    headers: undefined,
    payload: utf8.encode("hi"),
  },
  {
    type: FrameType.Publish,
    requestId: 0xfffffffe,
    topic: "größe/日本/😀",
    replyTo: "_inbox/x.1",
    headers: encodeHeaders({ a: "1", "ключ": "значение" }),
    payload: new Uint8Array(70000).fill(7),
  },
  { type: FrameType.Subscribe, requestId: 1, sid: 2, pattern: "a/+/#", queue: "q" },
  { type: FrameType.Subscribe, requestId: 0, sid: 0xffffffff, pattern: "é/+", queue: "" },
  { type: FrameType.Unsubscribe, requestId: 9, sid: 2 },
  {
    type: FrameType.Deliver,
    sid: 42,
    topic: "a/b",
    replyTo: "r/1",
    headers: encodeHeaders({ k: "v" }),
    payload: new Uint8Array([0, 255]),
  },
  {
    type: FrameType.Deliver,
    sid: 0,
    topic: "x",
    replyTo: "",
    headers: undefined,
    payload: new Uint8Array(0),
  },
  { type: FrameType.Ok, requestId: 1, result: new Uint8Array(0) },
  { type: FrameType.Ok, requestId: 2, result: new Uint8Array([9, 8, 7]) },
  { type: FrameType.Error, requestId: 0, code: "SLOW_CONSUMER", message: "Slow consumer: ✗" },
  { type: FrameType.Error, requestId: 5, code: "TOPIC_INVALID", message: "" },
  { type: FrameType.Ping },
  { type: FrameType.Pong },
  { type: FrameType.Goodbye, reason: "" },
  { type: FrameType.Goodbye, reason: "server shutting down — bye 👋" },
];

/** A frame as plain data: byte fields become arrays, `message` is dropped. */
function plain(frame: Frame): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(frame)) {
    if (key === "message" && frame.type === FrameType.Publish) continue;
    out[key] = value instanceof Uint8Array ? { bytes: Array.from(value) } : value;
  }
  return out;
}

function decodeBytes(bytes: Uint8Array): Frame {
  return decodeFrame(bytes[4], bytes.subarray(5));
}

function readU32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function asDeliver(publish: PublishFrame, sid: number): DeliverFrame {
  return {
    type: FrameType.Deliver,
    sid,
    topic: publish.topic,
    replyTo: publish.replyTo,
    headers: publish.headers,
    payload: publish.payload,
  };
}

function isCode(code: string): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof MbError, `expected an MbError, got ${error}`);
    assert.equal(error.code, code);
    return true;
  };
}

Deno.test("encodeFrame and decodeFrame round-trip every frame type", () => {
  const types = new Set<number>();
  for (const frame of FRAMES) {
    types.add(frame.type);
    const bytes = encodeFrame(frame);
    assert.equal(readU32(bytes, 0), bytes.length - 4, `length field of type ${frame.type}`);
    assert.equal(bytes[4], frame.type);
    const decoded = decodeBytes(bytes);
    assert.deepStrictEqual(plain(decoded), plain(frame), `type ${frame.type}`);
  }
  assert.equal(types.size, 11);
});

Deno.test("encodeFrame writes the documented bytes of a publish frame", () => {
  const bytes = encodeFrame(FRAMES[3]);
  assert.deepStrictEqual(Array.from(bytes), [
    0,
    0,
    0,
    16, // length: type + body
    3, // Publish
    0,
    0,
    0,
    0, // request id
    0,
    3,
    0x61,
    0x2f,
    0x62, // topic "a/b"
    0,
    0, // reply-to ""
    0,
    0, // header block length, no block
    0x68,
    0x69, // payload "hi"
  ]);
});

Deno.test("decodeFrame exposes a publish frame's message section as a view", () => {
  const bytes = encodeFrame(FRAMES[4]);
  const decoded = decodeBytes(bytes);
  assert.ok(decoded.type === FrameType.Publish);
  assert.deepStrictEqual(Array.from(decoded.message!), Array.from(bytes.subarray(9)));
  assert.equal(decoded.message!.buffer, bytes.buffer);
  assert.equal(decoded.payload.buffer, bytes.buffer);
});

Deno.test("encodedLength equals the bytes encodeInto writes", () => {
  for (const frame of FRAMES) {
    const size = encodedLength(frame);
    const out = new Uint8Array(size + 20).fill(0xee);
    const end = encodeInto(frame, out, 7);
    assert.equal(end - 7, size, `type ${frame.type}`);
    assert.deepStrictEqual(Array.from(out.subarray(7, end)), Array.from(encodeFrame(frame)));
    assert.ok(out.subarray(0, 7).every((b) => b === 0xee), "bytes before untouched");
    assert.ok(out.subarray(end).every((b) => b === 0xee), "bytes after untouched");
  }
});

Deno.test("encodedLength counts lone surrogates as the 3 bytes of U+FFFD", () => {
  const frames: Frame[] = [
    { type: FrameType.Goodbye, reason: "a\ud800b\udc00\ud83d" },
    { type: FrameType.Subscribe, requestId: 1, sid: 1, pattern: "\udfff/x", queue: "\ud800\ud800" },
  ];
  for (const frame of frames) {
    const bytes = encodeFrame(frame);
    assert.equal(bytes.length, encodedLength(frame));
    assert.equal(readU32(bytes, 0), bytes.length - 4);
    assert.doesNotThrow(() => decodeBytes(bytes));
  }
  const goodbye = decodeBytes(encodeFrame(frames[0]));
  assert.deepStrictEqual(goodbye, { type: FrameType.Goodbye, reason: "a\ufffdb\ufffd\ufffd" });
});

Deno.test("encodeDeliverInto writes what encodeFrame writes for the same deliver", () => {
  for (const frame of FRAMES) {
    if (frame.type !== FrameType.Publish) continue;
    const publish = decodeBytes(encodeFrame(frame));
    assert.ok(publish.type === FrameType.Publish);
    const message = publish.message!;
    const out = new Uint8Array(3 + DELIVER_HEADER_BYTES + message.length);
    const end = encodeDeliverInto(out, 3, 77, message);
    assert.equal(end, out.length);
    const expected = encodeFrame(asDeliver(frame, 77));
    assert.deepStrictEqual(Array.from(out.subarray(3)), Array.from(expected));
    assert.equal(DELIVER_HEADER_BYTES + message.length, encodedLength(asDeliver(frame, 77)));
  }
});

Deno.test("encodedLength rejects a string field over 65535 bytes", () => {
  const long = "é".repeat(32768);
  assert.throws(
    () =>
      encodedLength({
        type: FrameType.Publish,
        requestId: 0,
        topic: long,
        replyTo: "",
        headers: undefined,
        payload: new Uint8Array(0),
      }),
    isCode("INVALID_ARGUMENT"),
  );
  assert.throws(
    () =>
      encodeFrame({ type: FrameType.Subscribe, requestId: 0, sid: 1, pattern: "a", queue: long }),
    isCode("INVALID_ARGUMENT"),
  );
});

Deno.test("encodeFrame rejects an unknown frame type", () => {
  assert.throws(() => encodeFrame({ type: 0x20 } as unknown as Frame), isCode("FRAME_UNKNOWN"));
});

Deno.test("encodeFrame shortens a long error message to at most 4096 bytes", () => {
  const frame: Frame = {
    type: FrameType.Error,
    requestId: 3,
    code: "INTERNAL",
    message: "€".repeat(5000),
  };
  const bytes = encodeFrame(frame);
  assert.equal(bytes.length, encodedLength(frame));
  const decoded = decodeBytes(bytes);
  assert.ok(decoded.type === FrameType.Error);
  assert.ok(utf8.encode(decoded.message).length <= 4096);
  assert.ok(frame.message.startsWith(decoded.message));
  assert.equal(decoded.code, "INTERNAL");
});

Deno.test("decodeFrame rejects bodies that do not fit their type", () => {
  const cases: [string, number, number[]][] = [
    ["ping with a body", FrameType.Ping, [1]],
    ["pong with a body", FrameType.Pong, [0, 0]],
    ["short unsubscribe", FrameType.Unsubscribe, [0, 0, 0, 1, 0, 0, 0]],
    ["long unsubscribe", FrameType.Unsubscribe, [0, 0, 0, 1, 0, 0, 0, 2, 3]],
    ["short publish", FrameType.Publish, [0, 0, 0]],
    ["publish without topic length", FrameType.Publish, [0, 0, 0, 0, 0]],
    ["publish without header length", FrameType.Publish, [0, 0, 0, 0, 0, 1, 0x61, 0, 0, 0]],
    ["publish headers overrun", FrameType.Publish, [0, 0, 0, 0, 0, 1, 0x61, 0, 0, 0, 4, 0, 1]],
    ["deliver reply-to overrun", FrameType.Deliver, [0, 0, 0, 1, 0, 1, 0x61, 0, 9, 0x62]],
    ["short subscribe", FrameType.Subscribe, [0, 0, 0, 1, 0, 0, 0, 1, 0]],
    ["subscribe without queue", FrameType.Subscribe, [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x61]],
    ["subscribe trailing", FrameType.Subscribe, [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x61, 0, 0, 9]],
    ["short ok", FrameType.Ok, [0, 0, 0]],
    ["short error", FrameType.Error, [0, 0, 0, 0, 0]],
    ["error message overrun", FrameType.Error, [0, 0, 0, 0, 0, 1, 0x41, 0, 5, 0x42]],
    ["empty hello", FrameType.Hello, []],
    ["hello not JSON", FrameType.Hello, [1, 0x7b]],
    ["hello JSON array", FrameType.Hello, [1, ...utf8.encode("[1]")]],
    ["hello JSON null", FrameType.Hello, [1, ...utf8.encode("null")]],
    ["info JSON string", FrameType.Info, [1, ...utf8.encode('"x"')]],
  ];
  for (const [name, type, body] of cases) {
    assert.throws(() => decodeFrame(type, new Uint8Array(body)), isCode("FRAME_MALFORMED"), name);
  }
});

Deno.test("decodeFrame rejects an unknown type", () => {
  for (const type of [0, 12, 0x0f, 0x19, 0x3f, 0xff]) {
    assert.throws(() => decodeFrame(type, new Uint8Array(0)), isCode("FRAME_UNKNOWN"));
  }
});

Deno.test("FrameBatch appends frames back to back and take empties it", () => {
  const batch = new FrameBatch();
  assert.equal(batch.byteLength, 0);
  assert.equal(batch.take().length, 0);
  for (const frame of FRAMES) batch.append(frame);
  const expected = concat(FRAMES.map(encodeFrame));
  assert.equal(batch.byteLength, expected.length);
  const taken = batch.take();
  assert.deepStrictEqual(taken, expected);
  assert.equal(batch.byteLength, 0);
  assert.equal(batch.take().length, 0);
});

Deno.test("FrameBatch appendDeliver matches an encoded deliver frame", () => {
  const publish = FRAMES[4] as PublishFrame;
  const decoded = decodeBytes(encodeFrame(publish)) as PublishFrame;
  const batch = new FrameBatch({ initialBytes: 64 });
  batch.appendDeliver(5, decoded.message!);
  batch.appendDeliver(6, decoded.message!);
  const expected = concat([
    encodeFrame(asDeliver(publish, 5)),
    encodeFrame(asDeliver(publish, 6)),
  ]);
  assert.equal(batch.byteLength, expected.length);
  assert.deepStrictEqual(batch.take(), expected);
});

Deno.test("FrameBatch appendBytes copies already encoded frames", () => {
  const batch = new FrameBatch({ initialBytes: 8 });
  const ping = encodeFrame({ type: FrameType.Ping });
  const source = concat([ping, ping]);
  batch.append({ type: FrameType.Pong });
  batch.appendBytes(source);
  source.fill(0);
  assert.deepStrictEqual(
    batch.take(),
    concat([encodeFrame({ type: FrameType.Pong }), ping, ping]),
  );
});

Deno.test("FrameBatch grows past initialBytes without losing bytes", () => {
  const batch = new FrameBatch({ initialBytes: 16 });
  const expected: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const frame = FRAMES[i % FRAMES.length];
    batch.append(frame);
    expected.push(encodeFrame(frame));
    assert.equal(batch.byteLength, expected.reduce((n, b) => n + b.length, 0));
  }
  assert.deepStrictEqual(batch.take(), concat(expected));
});

Deno.test("FrameBatch never writes over bytes it has handed out", () => {
  const batch = new FrameBatch({ initialBytes: 1024 });
  batch.append({ type: FrameType.Ping });
  batch.append(FRAMES[3]);
  const taken = batch.take();
  const copy = taken.slice();
  // Appends that fit in the buffer's spare room after the taken bytes...
  batch.append({ type: FrameType.Pong });
  batch.appendDeliver(1, encodeFrame(FRAMES[3]).subarray(9));
  batch.appendBytes(new Uint8Array(10).fill(0xff));
  const second = batch.take();
  assert.deepStrictEqual(taken, copy);
  if (second.buffer === taken.buffer) {
    assert.ok(second.byteOffset >= taken.byteOffset + taken.length, "takes do not overlap");
  }
  const secondCopy = second.slice();
  // ...then ones that need a new buffer.
  for (let i = 0; i < 100; i++) batch.append(FRAMES[4]);
  const third = batch.take();
  assert.notEqual(third.buffer, taken.buffer);
  assert.deepStrictEqual(taken, copy);
  assert.deepStrictEqual(second, secondCopy);
  assert.equal(third.length, 100 * encodedLength(FRAMES[4]));
});

Deno.test("FrameBatch clear drops the batched bytes", () => {
  const batch = new FrameBatch();
  batch.append({ type: FrameType.Ping });
  batch.clear();
  assert.equal(batch.byteLength, 0);
  batch.append({ type: FrameType.Pong });
  assert.deepStrictEqual(batch.take(), encodeFrame({ type: FrameType.Pong }));
});
