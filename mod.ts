// Copyright mb authors. MIT license.

/**
 * The mb client for Deno, Node.js and browsers (`ws:`/`wss:`; bundle
 * `@x/mb/browser` for a page): connect to a broker, publish,
 * subscribe with wildcards and queue groups, request/reply; with a broker
 * that has a store, also streams (`mb.streams`, read with
 * `subscribe(pattern, { stream, from })`) and work queues (`mb.queues`). No
 * runtime dependencies.
 *
 * @example Request and reply
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * mb.subscribe("time/now", {
 *   callback: (msg) => void msg.respond(new Date().toISOString()),
 * });
 * const reply = await mb.request("time/now", "", { timeoutMs: 1000 });
 * console.log(reply.text());
 * ```
 *
 * @module
 */

export { Client, type ClientTransportConfig } from "./client/client.ts";
export type { OpenConnection } from "./client/handshake.ts";
export type {
  ConnectOptions,
  PublishOptions,
  RequestOptions,
  StatusEvent,
} from "./client/options.ts";
export { connect, type ConnectWithOptions } from "./client/connect.ts";
export { Job, type JobOptions, type JobSettler, type NackOptions } from "./client/job.ts";
export { Message, type MessageOptions, type Responder } from "./client/message.ts";
export { type ConsumeOptions, QueueConsumer } from "./client/queue_consumer.ts";
export {
  type FetchOptions,
  type QueueDeclareOptions,
  Queues,
  type QueueSendOptions,
} from "./client/queues.ts";
export { Streams } from "./client/streams.ts";
export { type StreamFrom, type SubscribeOptions, Subscription } from "./client/subscription.ts";
export type { Transport, TransportFactory, TransportOptions } from "./client/transport.ts";
export { isMbErrorCode, MB_ERROR_CODES, MbError, type MbErrorCode } from "./protocol/errors.ts";
export type { QueueConfig, QueueInfo, StreamConfig, StreamInfo } from "./protocol/durable.ts";
export type { ServerInfo } from "./protocol/frames.ts";
