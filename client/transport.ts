// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * A connection's byte streams, whatever carries them: a Deno socket, a
 * Node.js socket, a WebSocket. The client core sees nothing else.
 *
 * @example A transport over any pair of web streams
 * ```ts
 * import type { Transport } from "./transport.ts";
 *
 * const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
 * const loopback: Transport = { readable, writable, close() {} };
 * ```
 */
export interface Transport {
  /** Bytes from the server; ends or errors when the connection does. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the server. */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes the connection at once; pending reads end. */
  close(): void;
}

/** Options a transport factory receives. */
export interface TransportOptions {
  /** Extra trust anchors for `tls:`, PEM. */
  caCerts?: string[];
  /** Aborts a connection attempt. */
  signal?: AbortSignal;
}

/**
 * Opens a transport to `url` (`mb:`/`tcp:`, `tls:`, `unix:` and, later,
 * `ws:`/`wss:`).
 *
 * @example A factory that refuses everything
 * ```ts
 * import type { TransportFactory } from "./transport.ts";
 *
 * const never: TransportFactory = (url) =>
 *   Promise.reject(new Error(`Cannot connect to ${url}`));
 * ```
 */
export type TransportFactory = (url: URL, options: TransportOptions) => Promise<Transport>;

/** Default port of the plain TCP listener. */
export const DEFAULT_PORT = 4150;

/** Default port of the TLS listener. */
export const DEFAULT_TLS_PORT = 4151;

/**
 * Host and port of a `mb:`, `tcp:` or `tls:` URL, with the default port
 * filled in.
 *
 * @param url The server URL.
 * @returns Host name (brackets removed) and port.
 *
 * @example
 * ```ts
 * import { hostAndPort } from "./transport.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(hostAndPort(new URL("tls://example.com")), { hostname: "example.com", port: 4151 });
 * ```
 */
export function hostAndPort(url: URL): { hostname: string; port: number } {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const fallback = url.protocol === "tls:" ? DEFAULT_TLS_PORT : DEFAULT_PORT;
  return { hostname, port: url.port === "" ? fallback : Number(url.port) };
}

/**
 * The socket path of a `unix:` URL: `unix:///run/mb.sock` or
 * `unix:/run/mb.sock`.
 *
 * @param url The server URL.
 * @returns The path.
 *
 * @example
 * ```ts
 * import { unixPath } from "./transport.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(unixPath(new URL("unix:///tmp/mb.sock")), "/tmp/mb.sock");
 * ```
 */
export function unixPath(url: URL): string {
  return decodeURIComponent(url.pathname);
}
