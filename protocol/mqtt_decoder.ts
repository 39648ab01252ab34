// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MqttParser } from "./_mqtt_parser.ts";
import type { MqttPacket } from "./mqtt_packets.ts";

/** Options of {@linkcode MqttDecoder}. */
export interface MqttDecoderOptions {
  /**
   * Largest packet accepted (fixed header included); a larger one is an
   * error with code `FRAME_TOO_LARGE`, found from its header alone.
   *
   * @default {1114112}
   */
  maxPacketBytes?: number;
}

/** The default packet limit: 1 MiB of payload and 64 KiB for the rest. */
const DEFAULT_MAX_PACKET_BYTES = 1024 * 1024 + 64 * 1024;

/**
 * Turns a byte stream into MQTT 3.1.1 control packets: for each chunk, one
 * array of the packets it completes (a reader pays one promise per chunk).
 * Correct for any chunking; a packet whole in a chunk is decoded without
 * copying (a PUBLISH payload is a view into the chunk), a split one is
 * gathered in a buffer of exactly its size. Malformed input (a remaining
 * length over 4 bytes, wrong header flags, invalid UTF-8, a wildcard in a
 * PUBLISH topic, a packet id of 0, fields past the end, a truncated
 * stream...) errors the stream with `FRAME_MALFORMED`.
 *
 * @example
 * ```ts
 * import { encodeMqttPacket, MqttDecoder, MqttPacketType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const ping = encodeMqttPacket({ type: MqttPacketType.Pingreq });
 * const ack = encodeMqttPacket({ type: MqttPacketType.Puback, packetId: 1 });
 * const bytes = new Uint8Array([...ping, ...ack]);
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([bytes.subarray(0, 3), bytes.subarray(3)])
 *     .pipeThrough(new MqttDecoder()),
 * );
 * assert.deepEqual(batches.map((b) => b.map((p) => p.type)), [[12], [4]]);
 * ```
 */
export class MqttDecoder extends TransformStream<Uint8Array, MqttPacket[]> {
  /**
   * Creates a decoder.
   *
   * @param options The size limit.
   */
  constructor(options: MqttDecoderOptions = {}) {
    const parser = new MqttParser(options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES);
    super({
      transform(chunk, controller) {
        const packets: MqttPacket[] = [];
        parser.push(chunk, packets);
        if (packets.length > 0) controller.enqueue(packets);
      },
      flush() {
        parser.end();
      },
    });
  }
}
