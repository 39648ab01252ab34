// Copyright mb authors. MIT license.

/**
 * The mb broker, embeddable in a Deno program. `server/main.ts` is the
 * command-line entry around it. Besides TCP, TLS and unix sockets it serves
 * mb over WebSocket (subprotocol {@linkcode WS_PROTOCOL}) and the HTTP API
 * on one web listener (`httpPort`, default 4180), and MQTT 3.1.1 over TCP,
 * TLS and WebSocket (`mqttPort`, default 1883).
 *
 * @example Start a broker, stop it
 * ```ts
 * import { Broker } from "@x/mb/server";
 *
 * const broker = new Broker({ hostname: "127.0.0.1", port: 0, httpPort: 0, mqttPort: 0 });
 * await broker.start();
 * console.log(broker.addresses.map((a) => a.url));
 * await broker.stop();
 * ```
 *
 * @module
 */

export {
  Broker,
  type BrokerAddress,
  type BrokerOptions,
  type BrokerStats,
  type BrokerTlsOptions,
} from "./broker.ts";
export { WS_PROTOCOL, WsCloseCode } from "./gateway/websocket_conn.ts";
export type { SlowConsumerPolicy } from "./session.ts";
export type { SegmentLogFsync } from "./store/segment_log.ts";
export type { QueueConfig, StreamConfig } from "../protocol/durable.ts";
