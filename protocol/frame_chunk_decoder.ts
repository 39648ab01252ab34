// Copyright mb authors. MIT license.
// This module is browser compatible.

import { FrameParser } from "./_frame_parser.ts";
import { DEFAULT_MAX_FRAME_BYTES, type Frame } from "./frames.ts";
import type { FrameDecoderOptions } from "./frame_decoder.ts";

/**
 * Like {@linkcode FrameDecoder}, but emits the frames decoded from each
 * chunk as one array: a reader then pays one promise per chunk instead of
 * one per frame, which is what the broker's sessions and the client use on
 * their hot paths. Same limits, same coded errors.
 *
 * @example Many frames in one chunk come out as one array
 * ```ts
 * import { encodeFrame, FrameChunkDecoder, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const ping = encodeFrame({ type: FrameType.Ping });
 * const bytes = new Uint8Array([...ping, ...ping, ...ping.subarray(0, 2)]);
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([bytes, ping.subarray(2)]).pipeThrough(new FrameChunkDecoder()),
 * );
 * assert.deepEqual(batches.map((frames) => frames.length), [2, 1]);
 * ```
 */
export class FrameChunkDecoder extends TransformStream<Uint8Array, Frame[]> {
  /**
   * Creates a decoder.
   *
   * @param options The size limit.
   */
  constructor(options: FrameDecoderOptions = {}) {
    const parser = new FrameParser(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    super({
      transform(chunk, controller) {
        const frames: Frame[] = [];
        parser.push(chunk, frames);
        if (frames.length > 0) controller.enqueue(frames);
      },
      flush() {
        parser.end();
      },
    });
  }
}
