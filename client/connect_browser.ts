// Copyright mb authors. MIT license.
// This module is browser compatible. It is `connect()` for browser bundles:
// WebSocket only, with no reference to the Deno or Node.js transports.

import type { Client } from "./client.ts";
import { connectWith, type ConnectWithOptions, isWebSocketUrl } from "./_connect.ts";
import { MbError } from "../protocol/errors.ts";
import type { TransportFactory } from "./transport.ts";
import { connectWebSocket } from "./transport_websocket.ts";

/**
 * Connects to an mb broker's web listener over WebSocket: `ws://host:4180`,
 * or `wss://` behind TLS. Same as `connect()` from the main entry point, but
 * it opens only `ws:`/`wss:` URLs, so a browser bundle carries no socket code.
 *
 * @param servers One server URL or several.
 * @param options Name, token, reconnect policy, status callback.
 * @returns A connected client.
 * @throws {MbError} `CONNECTION_FAILED` when no server can be reached,
 * `TIMEOUT` when the only server does not finish the handshake in time,
 * `AUTH_FAILED` when the token is refused, `UNSUPPORTED_TRANSPORT` for a
 * URL that is not `ws:` or `wss:` (or a runtime without `WebSocket`).
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mb.js"; // deno task bundle:browser
 *
 * const mb = await connect(`ws://${location.host}/`);
 * mb.subscribe("demo/#", { callback: (msg) => console.log(msg.topic, msg.text()) });
 * ```
 */
export function connect(
  servers: string | URL | (string | URL)[],
  options: ConnectWithOptions = {},
): Promise<Client> {
  return connectWith(servers, options, pickWebSocket);
}

function pickWebSocket(servers: URL[]): Promise<TransportFactory> {
  const other = servers.find((url) => !isWebSocketUrl(url));
  if (other === undefined) return Promise.resolve(connectWebSocket);
  return Promise.reject(
    new MbError(
      "UNSUPPORTED_TRANSPORT",
      `Cannot connect to ${other.href}: the browser build of the client opens only ws: and wss: URLs`,
    ),
  );
}
