// Copyright mb authors. MIT license.

/**
 * The broker's web face: one `Deno.serve` listener ({@linkcode listenWeb})
 * that turns WebSocket upgrades into sessions ({@linkcode WebSocketConn}),
 * serves the browser examples ({@linkcode serveStatic}) and hands every
 * other request to the HTTP API ({@linkcode HttpApi}).
 *
 * @module
 */

export { HttpApi, type HttpApiOptions } from "./http_api.ts";
export { serveStatic, type StaticFilesOptions } from "./static_files.ts";
export { listenWeb, type WebListener, type WebListenerOptions } from "./web_listener.ts";
export {
  WebSocketConn,
  type WebSocketConnOptions,
  type WebSocketLike,
  WS_MESSAGE_SLACK_BYTES,
  WS_PROTOCOL,
  WS_SUBPROTOCOL_REQUIRED,
  WsCloseCode,
} from "./websocket_conn.ts";
