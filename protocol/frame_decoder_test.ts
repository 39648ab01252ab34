// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { encodeFrame } from "./encode.ts";
import { MB_ERROR_CODES, MbError, type MbErrorCode } from "./errors.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { DEFAULT_MAX_FRAME_BYTES, type Frame, FrameType } from "./frames.ts";
import { encodeHeaders } from "./headers.ts";

const FRAME_CODES: MbErrorCode[] = ["FRAME_TOO_LARGE", "FRAME_MALFORMED", "FRAME_UNKNOWN"];
const utf8 = new TextEncoder();

/** One frame of every type, with non-ASCII text, headers and empty fields. */
const SAMPLE_FRAMES: Frame[] = [
  {
    type: FrameType.Hello,
    version: 1,
    hello: { name: "büro", token: "s3cret", lang: "mb.ts/0.1" },
  },
  {
    type: FrameType.Info,
    version: 1,
    info: {
      serverId: "id-1",
      serverVersion: "0.1.0",
      clientId: 7,
      maxPayloadBytes: 1024,
      maxFrameBytes: 2048,
      maxSubscriptions: 10,
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
    requestId: 0xffffffff,
    topic: "häuser/日本/😀",
    replyTo: "_inbox/1",
    headers: encodeHeaders({ "content-type": "text/plain", trace: "é" }),
    payload: new Uint8Array(300).fill(0xab),
  },
  { type: FrameType.Subscribe, requestId: 3, sid: 4, pattern: "a/+/#", queue: "workers" },
  { type: FrameType.Subscribe, requestId: 0, sid: 5, pattern: "#", queue: "" },
  { type: FrameType.Unsubscribe, requestId: 6, sid: 4 },
  {
    type: FrameType.Deliver,
    sid: 9,
    topic: "a/b",
    replyTo: "r",
    headers: encodeHeaders({ k: "v" }),
    payload: new Uint8Array(0),
  },
  { type: FrameType.Ok, requestId: 3, result: new Uint8Array(0) },
  { type: FrameType.Ok, requestId: 4, result: new Uint8Array([1, 2, 3]) },
  { type: FrameType.Error, requestId: 0, code: "TOPIC_INVALID", message: "Invalid topic «a//b»" },
  { type: FrameType.Ping },
  { type: FrameType.Pong },
  { type: FrameType.Goodbye, reason: "" },
  { type: FrameType.Goodbye, reason: "server shutting down ✓" },
];

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function decode(chunks: Uint8Array[], maxFrameBytes?: number): Promise<Frame[]> {
  return Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new FrameDecoder({ maxFrameBytes })),
  );
}

/**
 * A frame as plain data for `deepStrictEqual`: byte fields become arrays and
 * a publish frame's `message` (set only by the decoder) is left out; it is
 * checked on its own by {@linkcode assertFrames}.
 */
function plain(frame: Frame): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(frame)) {
    if (key === "message" && frame.type === FrameType.Publish) continue;
    if (value instanceof Uint8Array) out[key] = { bytes: Array.from(value) };
    else out[key] = value;
  }
  return out;
}

/** Checks decoded frames against the frames that were encoded. */
function assertFrames(actual: Frame[], expected: Frame[], context = ""): void {
  assert.equal(actual.length, expected.length, `frame count ${context}`);
  for (let i = 0; i < expected.length; i++) {
    const got = actual[i];
    const want = expected[i];
    assert.deepStrictEqual(plain(got), plain(want), `frame ${i} ${context}`);
    for (const value of Object.values(got)) {
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        if (got.type === FrameType.Hello || got.type === FrameType.Info) continue;
        assert.ok(value instanceof Uint8Array, `frame ${i} byte field type ${context}`);
      }
    }
    if (got.type === FrameType.Publish) {
      // The message section is the frame after length, type and request id.
      assert.ok(got.message instanceof Uint8Array, `frame ${i} message ${context}`);
      assert.deepStrictEqual(
        Array.from(got.message),
        Array.from(encodeFrame(want).subarray(9)),
        `frame ${i} message ${context}`,
      );
    }
  }
}

function assertFrameError(error: unknown, codes: MbErrorCode | MbErrorCode[]): true {
  assert.ok(error instanceof MbError, `expected an MbError, got ${error}`);
  const allowed = typeof codes === "string" ? [codes] : codes;
  assert.ok(allowed.includes(error.code), `unexpected code ${error.code}: ${error.message}`);
  return true;
}

async function assertDecodeFails(
  chunks: Uint8Array[],
  codes: MbErrorCode | MbErrorCode[],
  maxFrameBytes?: number,
): Promise<void> {
  await assert.rejects(decode(chunks, maxFrameBytes), (error) => assertFrameError(error, codes));
}

/**
 * Writes `chunks` into a decoder without closing it, then asserts that the
 * readable side errors with `code`: the error must not wait for more bytes or
 * for the end of the stream.
 */
async function assertFailsWithoutMoreBytes(
  chunks: Uint8Array[],
  code: MbErrorCode,
  maxFrameBytes?: number,
): Promise<void> {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const writer = decoder.writable.getWriter();
  const reader = decoder.readable.getReader();
  const writes = chunks.map((chunk) => writer.write(chunk).then(() => "written", (e) => e));
  // Frames before the bad one come out first; then the read must fail, not
  // wait for bytes (Deno then fails the test with a pending promise).
  await assert.rejects(
    (async () => {
      while (true) {
        const { done } = await reader.read();
        assert.ok(!done, "stream ended without an error");
      }
    })(),
    (error) => assertFrameError(error, code),
  );
  // Every write either went through before the error or was refused with it.
  for (const result of await Promise.all(writes)) {
    if (result !== "written") assertFrameError(result, code);
  }
  await assert.rejects(writer.closed, (error) => assertFrameError(error, code));
}

// A seeded PRNG, so that a failing random test can be replayed from its seed.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters random text is made of: ASCII, 2-, 3- and 4-byte UTF-8. */
const TEXT_POOL = ["a", "b", "z", "0", "-", "_", "é", "ß", "ж", "€", "日", "本", "😀", "🚀", " "];

class RandomFrames {
  #rand: () => number;

  constructor(seed: number) {
    this.#rand = mulberry32(seed);
  }

  int(max: number): number {
    return Math.floor(this.#rand() * max);
  }

  u32(): number {
    return Math.floor(this.#rand() * 4294967296) >>> 0;
  }

  text(maxChars: number): string {
    let text = "";
    const n = this.int(maxChars + 1);
    for (let i = 0; i < n; i++) text += TEXT_POOL[this.int(TEXT_POOL.length)];
    return text;
  }

  topic(): string {
    const levels: string[] = [];
    const n = 1 + this.int(5);
    for (let i = 0; i < n; i++) levels.push(this.text(8) || "x");
    return levels.join("/");
  }

  bytes(max: number): Uint8Array {
    const out = new Uint8Array(this.int(max + 1));
    for (let i = 0; i < out.length; i++) out[i] = this.int(256);
    return out;
  }

  headers(): Uint8Array | undefined {
    const headers: Record<string, string> = {};
    const n = this.int(4);
    for (let i = 0; i < n; i++) headers[this.text(10) || "k"] = this.text(20);
    return encodeHeaders(headers);
  }

  frame(): Frame {
    const type = 1 + this.int(11);
    switch (type) {
      case FrameType.Hello: {
        const hello: Record<string, string> = {};
        if (this.int(2)) hello.name = this.text(12);
        if (this.int(2)) hello.token = this.text(12);
        if (this.int(2)) hello.lang = this.text(12);
        return { type, version: this.int(256), hello };
      }
      case FrameType.Info:
        return {
          type,
          version: this.int(256),
          info: {
            serverId: this.text(16),
            serverVersion: this.text(6),
            clientId: this.u32(),
            maxPayloadBytes: this.u32(),
            maxFrameBytes: this.u32(),
            maxSubscriptions: this.u32(),
            pingIntervalMs: this.u32(),
          },
        };
      case FrameType.Publish:
        return {
          type,
          requestId: this.u32(),
          topic: this.topic(),
          replyTo: this.int(2) ? this.topic() : "",
          headers: this.headers(),
          payload: this.bytes(5000),
        };
      case FrameType.Subscribe:
        return {
          type,
          requestId: this.u32(),
          sid: this.u32(),
          pattern: this.topic(),
          queue: this.int(2) ? this.text(8) : "",
        };
      case FrameType.Unsubscribe:
        return { type, requestId: this.u32(), sid: this.u32() };
      case FrameType.Deliver:
        return {
          type,
          sid: this.u32(),
          topic: this.topic(),
          replyTo: this.int(2) ? this.topic() : "",
          headers: this.headers(),
          payload: this.bytes(5000),
        };
      case FrameType.Ok:
        return { type, requestId: this.u32(), result: this.bytes(64) };
      case FrameType.Error:
        return {
          type,
          requestId: this.u32(),
          code: MB_ERROR_CODES[this.int(MB_ERROR_CODES.length)],
          message: this.text(60),
        };
      case FrameType.Ping:
        return { type };
      case FrameType.Pong:
        return { type };
      default:
        return { type: FrameType.Goodbye, reason: this.text(30) };
    }
  }

  /** Cuts `bytes` into pieces: mostly small, sometimes empty or large. */
  split(bytes: Uint8Array): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    let at = 0;
    while (at < bytes.length) {
      const kind = this.int(4);
      const size = kind === 0 ? this.int(8) : kind === 1 ? this.int(64) : this.int(12000);
      chunks.push(bytes.subarray(at, at + size));
      at += size;
    }
    return chunks;
  }
}

const SAMPLE_BYTES = concat(SAMPLE_FRAMES.map(encodeFrame));

Deno.test("FrameDecoder decodes one frame of every type fed one byte at a time", async () => {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < SAMPLE_BYTES.length; i++) chunks.push(SAMPLE_BYTES.subarray(i, i + 1));
  assertFrames(await decode(chunks), SAMPLE_FRAMES);
});

Deno.test("FrameDecoder decodes frames split in two at every offset", async () => {
  for (let split = 0; split <= SAMPLE_BYTES.length; split++) {
    const chunks = [SAMPLE_BYTES.slice(0, split), SAMPLE_BYTES.slice(split)];
    assertFrames(await decode(chunks), SAMPLE_FRAMES, `split at ${split}`);
  }
});

Deno.test("FrameDecoder decodes many frames from one chunk", async () => {
  const expected: Frame[] = [];
  for (let i = 0; i < 100; i++) expected.push(...SAMPLE_FRAMES);
  const frames = await decode([concat(expected.map(encodeFrame))]);
  assertFrames(frames, expected);
});

Deno.test("FrameDecoder emits whole frames in a chunk as views of that chunk", async () => {
  const frame: Frame = {
    type: FrameType.Publish,
    requestId: 1,
    topic: "t",
    replyTo: "",
    headers: undefined,
    payload: new Uint8Array([1, 2, 3]),
  };
  const chunk = encodeFrame(frame);
  const [decoded] = await decode([chunk]);
  assert.ok(decoded.type === FrameType.Publish);
  assert.equal(decoded.payload.buffer, chunk.buffer);
  assert.equal(decoded.message!.buffer, chunk.buffer);
});

Deno.test("FrameDecoder copies a frame split across chunks out of those chunks", async () => {
  const frame: Frame = { type: FrameType.Ok, requestId: 1, result: new Uint8Array([5, 6, 7]) };
  const bytes = encodeFrame(frame);
  const first = bytes.slice(0, 6);
  const second = bytes.slice(6);
  const [decoded] = await decode([first, second]);
  first.fill(0);
  second.fill(0);
  assertFrames([decoded], [frame]);
});

Deno.test("FrameDecoder accepts empty chunks anywhere", async () => {
  const empty = new Uint8Array(0);
  const chunks = [empty, SAMPLE_BYTES.subarray(0, 2), empty, SAMPLE_BYTES.subarray(2), empty];
  assertFrames(await decode(chunks), SAMPLE_FRAMES);
});

Deno.test("FrameDecoder accepts a frame of exactly maxFrameBytes", async () => {
  const frame: Frame = { type: FrameType.Ok, requestId: 1, result: new Uint8Array(95) };
  const bytes = encodeFrame(frame);
  assert.equal(bytes.length - 4, 100);
  assertFrames(await decode([bytes], 100), [frame]);
  assertFrames(await decode([bytes.subarray(0, 50), bytes.subarray(50)], 100), [frame]);
});

Deno.test("FrameDecoder round-trips random frames split at random offsets", async () => {
  const seeds = [1, 42, 0xdecaf, crypto.getRandomValues(new Uint32Array(1))[0]];
  for (const seed of seeds) {
    const random = new RandomFrames(seed);
    const frames: Frame[] = [];
    for (let i = 0; i < 300; i++) frames.push(random.frame());
    const seen = new Set(frames.map((frame) => frame.type));
    assert.equal(seen.size, 11, `every frame type generated (seed ${seed})`);
    const chunks = random.split(concat(frames.map(encodeFrame)));
    assertFrames(await decode(chunks), frames, `(seed ${seed}, ${chunks.length} chunks)`);
  }
});

Deno.test("FrameDecoder rejects a frame whose header exceeds maxFrameBytes", async () => {
  // Only the four length bytes: the error must come before any payload.
  await assertFailsWithoutMoreBytes([new Uint8Array([0, 0, 0, 101])], "FRAME_TOO_LARGE", 100);
  await assertFailsWithoutMoreBytes(
    [new Uint8Array([0, 0]), new Uint8Array([0]), new Uint8Array([101])],
    "FRAME_TOO_LARGE",
    100,
  );
  await assertFailsWithoutMoreBytes(
    [new Uint8Array([0xff, 0xff, 0xff, 0xff])],
    "FRAME_TOO_LARGE",
  );
  // A valid frame first, then the oversized header in the same chunk.
  const ping = encodeFrame({ type: FrameType.Ping });
  await assertFailsWithoutMoreBytes(
    [concat([ping, new Uint8Array([0, 0x10, 0, 0])])],
    "FRAME_TOO_LARGE",
    1000,
  );
});

Deno.test("FrameDecoder rejects a whole frame over maxFrameBytes", async () => {
  const frame = encodeFrame({ type: FrameType.Ok, requestId: 1, result: new Uint8Array(96) });
  await assertDecodeFails([frame], "FRAME_TOO_LARGE", 100);
});

Deno.test("FrameDecoder defaults maxFrameBytes to DEFAULT_MAX_FRAME_BYTES", async () => {
  const over = DEFAULT_MAX_FRAME_BYTES + 1;
  const header = new Uint8Array([over >>> 24, over >>> 16, over >>> 8, over]);
  await assertFailsWithoutMoreBytes([header], "FRAME_TOO_LARGE");
});

Deno.test("FrameDecoder rejects a declared length of 0", async () => {
  await assertDecodeFails([new Uint8Array([0, 0, 0, 0])], "FRAME_MALFORMED");
  await assertFailsWithoutMoreBytes(
    [new Uint8Array([0, 0]), new Uint8Array([0, 0])],
    "FRAME_MALFORMED",
  );
});

Deno.test("FrameDecoder rejects an unknown type byte", async () => {
  for (const type of [0, 12, 0x0f, 0x19, 0x3f, 0x7f, 0xff]) {
    const bytes = new Uint8Array([0, 0, 0, 3, type, 1, 2]);
    await assertDecodeFails([bytes], "FRAME_UNKNOWN");
    // Split after the type byte: the error must not wait for the body.
    await assertFailsWithoutMoreBytes([bytes.subarray(0, 5)], "FRAME_UNKNOWN");
    // Split before the type byte, and one byte at a time.
    await assertFailsWithoutMoreBytes(
      [bytes.subarray(0, 4), bytes.subarray(4, 5)],
      "FRAME_UNKNOWN",
    );
    await assertDecodeFails(Array.from(bytes, (b) => new Uint8Array([b])), "FRAME_UNKNOWN");
  }
});

Deno.test("FrameDecoder rejects a stream that ends inside a frame", async () => {
  const bytes = encodeFrame(SAMPLE_FRAMES[3]);
  for (const cut of [1, 3, 4, 5, 20, bytes.length - 1]) {
    await assertDecodeFails([bytes.subarray(0, cut)], "FRAME_MALFORMED");
    await assertDecodeFails([SAMPLE_BYTES, bytes.subarray(0, cut)], "FRAME_MALFORMED");
    await assertDecodeFails(
      [bytes.subarray(0, 1), bytes.subarray(1, cut)],
      "FRAME_MALFORMED",
    );
  }
});

Deno.test("FrameDecoder rejects a publish whose topic length overruns the frame", async () => {
  // length 12: type, request id 0, topic length 100 with only 5 bytes after it.
  const bytes = new Uint8Array([0, 0, 0, 12, 3, 0, 0, 0, 0, 0, 100, 0x61, 0x2f, 0x62, 0, 0]);
  await assertDecodeFails([bytes], "FRAME_MALFORMED");
  await assertDecodeFails([bytes.subarray(0, 7), bytes.subarray(7)], "FRAME_MALFORMED");
});

Deno.test("FrameDecoder rejects a publish whose header block overruns the frame", async () => {
  const bytes = encodeFrame({
    type: FrameType.Publish,
    requestId: 0,
    topic: "a",
    replyTo: "",
    headers: undefined,
    payload: new Uint8Array([1, 2]),
  });
  // The header-block length sits after length, type, request id, topic, reply-to.
  bytes[4 + 1 + 4 + 3 + 2 + 1] = 3;
  await assertDecodeFails([bytes], "FRAME_MALFORMED");
  await assertDecodeFails([bytes.subarray(0, 9), bytes.subarray(9)], "FRAME_MALFORMED");
});

Deno.test("FrameDecoder rejects HTTP and other garbage with a frame error", async () => {
  const http = utf8.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  await assertDecodeFails([http], FRAME_CODES);
  await assertDecodeFails([http], FRAME_CODES, 1 << 30);
  await assertDecodeFails(Array.from(http, (b) => new Uint8Array([b])), FRAME_CODES);
  await assertDecodeFails(
    [utf8.encode("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")],
    FRAME_CODES,
  );
});

Deno.test("FrameDecoder fails only with frame errors on corrupted input", async () => {
  const seed = crypto.getRandomValues(new Uint32Array(1))[0];
  for (const base of [seed, 7, 99]) {
    const random = new RandomFrames(base);
    for (let round = 0; round < 200; round++) {
      const frames: Frame[] = [];
      for (let i = 0; i < 5; i++) frames.push(random.frame());
      const bytes = concat(frames.map(encodeFrame));
      const flips = 1 + random.int(4);
      for (let i = 0; i < flips; i++) bytes[random.int(bytes.length)] = random.int(256);
      try {
        await decode(random.split(bytes), 1 << 20);
      } catch (error) {
        assert.ok(error instanceof MbError, `seed ${base} round ${round}: ${error}`);
        assert.ok(
          FRAME_CODES.includes(error.code),
          `seed ${base} round ${round}: unexpected code ${error.code}`,
        );
      }
    }
  }
});
