// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { encodeFrame } from "./encode.ts";
import { MbError } from "./errors.ts";
import { FrameChunkDecoder } from "./frame_chunk_decoder.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { type Frame, FrameType } from "./frames.ts";

const FRAMES: Frame[] = [
  { type: FrameType.Ping },
  {
    type: FrameType.Publish,
    requestId: 3,
    topic: "a/b",
    replyTo: "r",
    headers: undefined,
    payload: new Uint8Array([1, 2, 3, 4, 5]),
  },
  { type: FrameType.Subscribe, requestId: 4, sid: 9, pattern: "a/#", queue: "q" },
  { type: FrameType.Goodbye, reason: "bye" },
];

function normalize(frame: Frame): unknown {
  return JSON.parse(
    JSON.stringify(frame, (_, value) => value instanceof Uint8Array ? Array.from(value) : value),
  );
}

async function decodeBoth(chunks: Uint8Array[]): Promise<[unknown[], Frame[][]]> {
  const single = await Array.fromAsync(ReadableStream.from(chunks).pipeThrough(new FrameDecoder()));
  const batched = await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new FrameChunkDecoder()),
  );
  return [single.map(normalize), batched];
}

Deno.test("FrameChunkDecoder emits what FrameDecoder emits, grouped by chunk, at every split", async () => {
  const bytes = new Uint8Array(FRAMES.flatMap((frame) => [...encodeFrame(frame)]));
  for (let split = 0; split <= bytes.length; split++) {
    const chunks = [bytes.subarray(0, split), bytes.subarray(split)];
    const [single, batched] = await decodeBoth(chunks);
    assert.deepStrictEqual(batched.flat().map(normalize), single, `split at ${split}`);
    assert.ok(batched.every((frames) => frames.length > 0), "no empty arrays");
  }
});

Deno.test("FrameChunkDecoder returns all frames of one chunk in one array", async () => {
  const bytes = new Uint8Array(FRAMES.flatMap((frame) => [...encodeFrame(frame)]));
  const [, batched] = await decodeBoth([bytes]);
  assert.equal(batched.length, 1);
  assert.equal(batched[0].length, FRAMES.length);
});

Deno.test("FrameChunkDecoder rejects an oversized header with FRAME_TOO_LARGE at once", async () => {
  const decoder = new FrameChunkDecoder({ maxFrameBytes: 100 });
  const writer = decoder.writable.getWriter();
  const reader = decoder.readable.getReader();
  writer.write(new Uint8Array([0, 0, 1, 0])).catch(() => {});
  await assert.rejects(reader.read(), (error) => {
    assert.ok(error instanceof MbError);
    assert.equal(error.code, "FRAME_TOO_LARGE");
    return true;
  });
});
