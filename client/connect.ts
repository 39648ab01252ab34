// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "../protocol/errors.ts";
import { Client } from "./client.ts";
import { openConnection } from "./handshake.ts";
import type { ConnectOptions } from "./options.ts";
import type { TransportFactory } from "./transport.ts";

/** Options for {@linkcode connect}: {@linkcode ConnectOptions} plus a transport. */
export interface ConnectWithOptions extends ConnectOptions {
  /**
   * Opens connections; by default chosen once from the URL scheme and the
   * runtime (Deno or Node.js sockets).
   */
  transport?: TransportFactory;
}

/**
 * Connects to an mb broker. `servers` is one URL or a list tried in order
 * (and in turn when reconnecting): `mb://host:4150` (or `tcp://`),
 * `tls://host:4151`, `unix:///path/to/socket`.
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
 */
export async function connect(
  servers: string | URL | (string | URL)[],
  options: ConnectWithOptions = {},
): Promise<Client> {
  const list = (Array.isArray(servers) ? servers : [servers]).map(parseServer);
  if (list.length === 0) {
    throw new MbError("INVALID_ARGUMENT", "Cannot connect: no server URL given");
  }
  const factory = options.transport ?? await defaultFactory(list);
  const failures: Error[] = [];
  for (const server of list) {
    try {
      const opened = await openConnection(server, factory, options);
      return new Client({ servers: list, factory }, options, opened);
    } catch (error) {
      if (error instanceof MbError && error.code === "AUTH_FAILED") throw error;
      if (error instanceof MbError && error.code === "PROTOCOL_VERSION") throw error;
      failures.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  if (failures.length === 1 && failures[0] instanceof MbError) throw failures[0];
  throw new MbError(
    "CONNECTION_FAILED",
    `Cannot connect to any of ${list.length} servers: ${failures.map((e) => e.message).join("; ")}`,
    { cause: new AggregateError(failures) },
  );
}

const SCHEMES = new Set(["mb:", "tcp:", "tls:", "unix:"]);

function parseServer(server: string | URL): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch (cause) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Cannot connect: ${JSON.stringify(String(server))} is not a URL`,
      { cause },
    );
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new MbError(
      "UNSUPPORTED_TRANSPORT",
      `Cannot connect to ${url.href}: use mb:, tcp:, tls: or unix:`,
    );
  }
  return url;
}

interface RuntimeGlobals {
  Deno?: { connect?: unknown };
  process?: { versions?: { node?: string } };
}

async function defaultFactory(servers: URL[]): Promise<TransportFactory> {
  const runtime = globalThis as RuntimeGlobals;
  if (typeof runtime.Deno?.connect === "function") {
    return (await import("./transport_deno.ts")).connectDeno;
  }
  if (runtime.process?.versions?.node !== undefined) {
    return (await import("./transport_node.ts")).connectNode;
  }
  throw new MbError(
    "UNSUPPORTED_TRANSPORT",
    `Cannot connect to ${servers[0].href}: this runtime has no sockets; use a ws: URL`,
  );
}
