// Copyright mb authors. MIT license.
// This module is browser compatible: it loads the Deno and Node.js socket
// transports with import() only when a URL needs them. Browser bundles start
// from client/browser.ts instead, which never refers to them.

import { MbError } from "../protocol/errors.ts";
import type { Client } from "./client.ts";
import { connectWith, type ConnectWithOptions, isWebSocketUrl } from "./_connect.ts";
import type { TransportFactory } from "./transport.ts";
import { connectWebSocket } from "./transport_websocket.ts";

export type { ConnectWithOptions } from "./_connect.ts";

/**
 * Connects to an mb broker. `servers` is one URL or a list tried in order
 * (and in turn when reconnecting): `mb://host:4150` (or `tcp://`),
 * `tls://host:4151`, `unix:///path/to/socket`, or the broker's web listener
 * `ws://host:4180` (`wss://` behind TLS). `ws:` works wherever there is a
 * global `WebSocket` (browsers, Deno, Node.js 22 and newer); the others need
 * Deno or Node.js sockets.
 *
 * @param servers One server URL or several.
 * @param options Name, token, reconnect policy, TLS trust, status callback.
 * @returns A connected client.
 * @throws {MbError} `CONNECTION_FAILED` when no server can be reached,
 * `TIMEOUT` when the only server does not finish the handshake in time,
 * `AUTH_FAILED` when the token is refused, `UNSUPPORTED_TRANSPORT` for a
 * scheme this runtime cannot open.
 *
 * @example Publish and receive
 * ```ts ignore
 * import { connect } from "@x/mb";
 * import assert from "node:assert/strict";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * const sub = mb.subscribe("sensors/#", { max: 1 });
 * await mb.publish("sensors/kitchen", "22.5");
 * for await (const msg of sub) assert.equal(msg.text(), "22.5");
 * ```
 *
 * @example Over WebSocket
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("ws://127.0.0.1:4180");
 * await mb.publish("sensors/kitchen", "22.5");
 * ```
 */
export function connect(
  servers: string | URL | (string | URL)[],
  options: ConnectWithOptions = {},
): Promise<Client> {
  return connectWith(servers, options, defaultFactory);
}

interface RuntimeGlobals {
  Deno?: { connect?: unknown };
  process?: { versions?: { node?: string } };
}

async function defaultFactory(servers: URL[]): Promise<TransportFactory> {
  const sockets = servers.find((url) => !isWebSocketUrl(url));
  if (sockets === undefined) return connectWebSocket;
  const connectSocket = await socketFactory(sockets);
  if (!servers.some(isWebSocketUrl)) return connectSocket;
  return (url, options) =>
    isWebSocketUrl(url) ? connectWebSocket(url, options) : connectSocket(url, options);
}

async function socketFactory(server: URL): Promise<TransportFactory> {
  const runtime = globalThis as RuntimeGlobals;
  if (typeof runtime.Deno?.connect === "function") {
    return (await import("./transport_deno.ts")).connectDeno;
  }
  if (runtime.process?.versions?.node !== undefined) {
    return (await import("./transport_node.ts")).connectNode;
  }
  throw new MbError(
    "UNSUPPORTED_TRANSPORT",
    `Cannot connect to ${server.href}: this runtime has no sockets; use a ws: URL`,
  );
}
