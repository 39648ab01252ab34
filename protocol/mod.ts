// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * The wire format of mb, with no I/O: frame types, the encoder, the
 * streaming {@linkcode FrameDecoder}, headers, topic rules and matching, and
 * the error class shared by broker and client. `PROTOCOL.md` documents every
 * byte.
 *
 * @example Encode a publish and decode it again
 * ```ts
 * import { encodeFrame, FrameDecoder, FrameType } from "@x/mb/protocol";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeFrame({
 *   type: FrameType.Publish,
 *   requestId: 0,
 *   topic: "sensors/kitchen",
 *   replyTo: "",
 *   headers: undefined,
 *   payload: new TextEncoder().encode("22.5"),
 * });
 * const [frame] = await Array.fromAsync(
 *   ReadableStream.from([bytes]).pipeThrough(new FrameDecoder()),
 * );
 * assert.equal(frame.type === FrameType.Publish && frame.topic, "sensors/kitchen");
 * ```
 *
 * @module
 */

export { decodeFrame, isKnownFrameType } from "./decode.ts";
export {
  COMMAND_OPS,
  decodeStoredResult,
  encodeStoredResult,
  nameProblem,
  type QueueConfig,
  type QueueInfo,
  type StreamConfig,
  type StreamInfo,
} from "./durable.ts";
export {
  DELIVER_HEADER_BYTES,
  encodeDeliverInto,
  encodedLength,
  encodeFrame,
  encodeInto,
  encodeMessageSection,
  encodeQueueDeliverInto,
  encodeStreamDeliverInto,
  QUEUE_DELIVER_HEADER_BYTES,
  STREAM_DELIVER_HEADER_BYTES,
} from "./encode.ts";
export {
  isConnectionFatal,
  isMbErrorCode,
  MB_ERROR_CODES,
  MbError,
  type MbErrorCode,
} from "./errors.ts";
export { FrameBatch, type FrameBatchOptions } from "./frame_batch.ts";
export { FrameChunkDecoder } from "./frame_chunk_decoder.ts";
export { FrameDecoder, type FrameDecoderOptions } from "./frame_decoder.ts";
export {
  AckAction,
  type AckFrame,
  type CommandFrame,
  type CreditFrame,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type DeliverFrame,
  type ErrorFrame,
  type FetchFrame,
  type Frame,
  FrameType,
  type GoodbyeFrame,
  type HelloFields,
  type HelloFrame,
  type InfoFrame,
  MAX_FRAME_OVERHEAD,
  MAX_HEADER_BYTES,
  MAX_TOPIC_BYTES,
  type OkFrame,
  type PingFrame,
  type PongFrame,
  PROTOCOL_VERSION,
  type PublishFrame,
  type QueueConsumeFrame,
  type QueueDeliverFrame,
  type QueueSendFrame,
  type ServerInfo,
  START_KINDS,
  type StreamDeliverFrame,
  type StreamStart,
  type StreamSubscribeFrame,
  type SubscribeFrame,
  type UnsubscribeFrame,
} from "./frames.ts";
export { decodeHeaders, encodeHeaders } from "./headers.ts";
export { MqttDecoder, type MqttDecoderOptions } from "./mqtt_decoder.ts";
export { encodeMqttPacket, encodeMqttPublish, type MqttPublishOptions } from "./mqtt_encode.ts";
export {
  MQTT_MAX_REMAINING_LENGTH,
  MQTT_PROTOCOL_LEVEL,
  MQTT_SUBACK_FAILURE,
  type MqttAck,
  type MqttConnack,
  type MqttConnect,
  MqttConnectReturnCode,
  type MqttEmpty,
  type MqttPacket,
  MqttPacketType,
  type MqttPublish,
  type MqttQos,
  type MqttSuback,
  type MqttSubscribe,
  type MqttSubscription,
  type MqttUnsubscribe,
  type MqttWill,
} from "./mqtt_packets.ts";
export { mqttFilterProblem, mqttTopicProblem, parseMqttSharedFilter } from "./mqtt_topic.ts";
export {
  matchTopic,
  patternProblem,
  queueGroupProblem,
  topicProblem,
  validatePattern,
  validateTopic,
} from "./topic.ts";
