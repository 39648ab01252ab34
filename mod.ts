// Copyright mb authors. MIT license.

/**
 * The mb client for Deno and Node.js: connect to a broker, publish,
 * subscribe with wildcards and queue groups, request/reply. No runtime
 * dependencies.
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
export { Message } from "./client/message.ts";
export { type SubscribeOptions, Subscription } from "./client/subscription.ts";
export type { Transport, TransportFactory, TransportOptions } from "./client/transport.ts";
export { isMbErrorCode, MB_ERROR_CODES, MbError, type MbErrorCode } from "./protocol/errors.ts";
export type { ServerInfo } from "./protocol/frames.ts";
