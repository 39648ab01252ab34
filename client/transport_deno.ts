// Copyright mb authors. MIT license.
// Deno only; reached from connect() by a dynamic import.

import { MbError } from "../protocol/errors.ts";
import { hostAndPort, type Transport, type TransportOptions, unixPath } from "./transport.ts";

// The members of the `Deno` global this file uses, declared here so the
// client's browser type check (no Deno types) still covers this file.
interface DenoSockets {
  connect(
    options: { transport: "tcp"; hostname: string; port: number } | {
      transport: "unix";
      path: string;
    },
  ): Promise<Transport & { setNoDelay?(noDelay?: boolean): void }>;
  connectTls(options: { hostname: string; port: number; caCerts?: string[] }): Promise<Transport>;
}

function denoSockets(): DenoSockets {
  return (globalThis as unknown as { Deno: DenoSockets }).Deno;
}

/**
 * Opens a transport with Deno's sockets: `mb:`/`tcp:` with `Deno.connect`,
 * `tls:` with `Deno.connectTls`, `unix:` with a unix socket. A `Deno.Conn`
 * already has the readable/writable shape of {@linkcode Transport}.
 *
 * @param url The server URL.
 * @param options Trust anchors for TLS.
 * @returns The open transport.
 * @throws {MbError} `UNSUPPORTED_TRANSPORT` for another scheme.
 *
 * @example
 * ```ts ignore
 * import { connectDeno } from "./transport_deno.ts";
 *
 * const transport = await connectDeno(new URL("mb://127.0.0.1:4150"), {});
 * transport.close();
 * ```
 */
export async function connectDeno(url: URL, options: TransportOptions): Promise<Transport> {
  switch (url.protocol) {
    case "mb:":
    case "tcp:": {
      const conn = await denoSockets().connect({ transport: "tcp", ...hostAndPort(url) });
      conn.setNoDelay?.(true);
      return conn;
    }
    case "tls:":
      return await denoSockets().connectTls({ ...hostAndPort(url), caCerts: options.caCerts });
    case "unix:":
      return await denoSockets().connect({ transport: "unix", path: unixPath(url) });
    default:
      throw new MbError("UNSUPPORTED_TRANSPORT", `Cannot connect to ${url}: unknown scheme`);
  }
}
