// Copyright mb authors. MIT license.
// This module is browser compatible.

import { FrameParser } from "./_frame_parser.ts";
import { DEFAULT_MAX_FRAME_BYTES, type Frame } from "./frames.ts";

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest frame accepted, as the value of its length field (type byte and
   * body). A larger frame errors the stream as soon as its length is read,
   * before any of its body is buffered.
   *
   * @default {DEFAULT_MAX_FRAME_BYTES} (1 MiB of payload plus room for topic and headers)
   */
  maxFrameBytes?: number;
}

/**
 * Turns a byte stream into frames, whatever its chunking: one byte at a time,
 * a frame split anywhere, or many frames in one chunk. Whole frames in a
 * chunk are decoded as views without copying; a frame split across chunks is
 * gathered into one buffer of exactly its size, so the decoder never holds
 * more than one frame's bytes. A frame over the limit, an unknown type or a
 * malformed body errors the stream with an {@linkcode MbError}
 * (`FRAME_TOO_LARGE`, `FRAME_UNKNOWN`, `FRAME_MALFORMED`); so does a stream
 * that ends inside a frame.
 *
 * @example Frames split at an awkward offset
 * ```ts
 * import { encodeFrame, FrameDecoder, FrameType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const a = encodeFrame({ type: FrameType.Ping });
 * const b = encodeFrame({ type: FrameType.Goodbye, reason: "done" });
 * const bytes = new Uint8Array([...a, ...b]);
 * const frames = await Array.fromAsync(
 *   ReadableStream.from([bytes.subarray(0, 3), bytes.subarray(3, 7), bytes.subarray(7)])
 *     .pipeThrough(new FrameDecoder({ maxFrameBytes: 1024 })),
 * );
 * assert.deepEqual(frames, [
 *   { type: FrameType.Ping },
 *   { type: FrameType.Goodbye, reason: "done" },
 * ]);
 * ```
 *
 * @example Frames from a socket
 * ```ts ignore
 * import { FrameDecoder } from "./mod.ts";
 *
 * const conn = await Deno.connect({ port: 4150 });
 * for await (const frame of conn.readable.pipeThrough(new FrameDecoder())) {
 *   console.log(frame.type);
 * }
 * ```
 */
export class FrameDecoder extends TransformStream<Uint8Array, Frame> {
  /**
   * Creates a decoder.
   *
   * @param options The size limit.
   */
  constructor(options: FrameDecoderOptions = {}) {
    const parser = new FrameParser(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    super({
      transform(chunk, controller) {
        parser.push(chunk, controller);
      },
      flush() {
        parser.end();
      },
    });
  }
}
