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
   * Opens connections; by default chosen once from the URL schemes and the
   * runtime: `ws:`/`wss:` with the global `WebSocket`, the others with Deno
   * or Node.js sockets.
   */
  transport?: TransportFactory;
}

/** Picks the transport factory for a list of server URLs, once per client. */
export type FactoryPicker = (servers: URL[]) => Promise<TransportFactory>;

const SCHEMES = new Set(["mb:", "tcp:", "tls:", "unix:", "ws:", "wss:"]);

/**
 * What `connect()` does in every build: parse the URLs, pick the factory,
 * try each server in turn, hand the first open connection to a
 * {@linkcode Client}.
 *
 * @param servers One server URL or several.
 * @param options Connect options.
 * @param pick Chooses the factory when `options.transport` is not given.
 * @returns A connected client.
 */
export async function connectWith(
  servers: string | URL | (string | URL)[],
  options: ConnectWithOptions,
  pick: FactoryPicker,
): Promise<Client> {
  const list = (Array.isArray(servers) ? servers : [servers]).map(parseServer);
  if (list.length === 0) {
    throw new MbError("INVALID_ARGUMENT", "Cannot connect: no server URL given");
  }
  const factory = options.transport ?? await pick(list);
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

/** Whether the URL is opened with a WebSocket. */
export function isWebSocketUrl(url: URL): boolean {
  return url.protocol === "ws:" || url.protocol === "wss:";
}

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
      `Cannot connect to ${url.href}: use mb:, tcp:, tls:, unix:, ws: or wss:`,
    );
  }
  return url;
}
