// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * The mb client for browsers: the same API as the main entry point
 * (`mod.ts`), but `connect()` opens only `ws:`/`wss:` URLs, to a broker's
 * web listener, so a bundle of this file carries no Deno or Node.js socket
 * code. Build one with `deno task bundle:browser` (it writes
 * `examples/browser/mb.js`).
 *
 * @example Subscribe from a web page
 * ```ts ignore
 * import { connect } from "./mb.js";
 *
 * const mb = await connect(`ws://${location.host}/`, {
 *   onStatus: (event) => console.log(event.type),
 * });
 * mb.subscribe("demo/#", { callback: (msg) => console.log(msg.topic, msg.text()) });
 * await mb.publish("demo/hello", "from the page");
 * ```
 *
 * @module
 */

export { Client, type ClientTransportConfig } from "./client.ts";
export type { OpenConnection } from "./handshake.ts";
export type { ConnectOptions, PublishOptions, RequestOptions, StatusEvent } from "./options.ts";
export type { ConnectWithOptions } from "./_connect.ts";
export { connect } from "./connect_browser.ts";
export { Job, type JobOptions, type JobSettler, type NackOptions } from "./job.ts";
export { Message, type MessageOptions, type Responder } from "./message.ts";
export { type ConsumeOptions, QueueConsumer } from "./queue_consumer.ts";
export {
  type FetchOptions,
  type QueueDeclareOptions,
  Queues,
  type QueueSendOptions,
} from "./queues.ts";
export { Streams } from "./streams.ts";
export { type StreamFrom, type SubscribeOptions, Subscription } from "./subscription.ts";
export type { Transport, TransportFactory, TransportOptions } from "./transport.ts";
export { isMbErrorCode, MB_ERROR_CODES, MbError, type MbErrorCode } from "../protocol/errors.ts";
export type { QueueConfig, QueueInfo, StreamConfig, StreamInfo } from "../protocol/durable.ts";
export type { ServerInfo } from "../protocol/frames.ts";
