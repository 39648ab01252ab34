// Copyright mb authors. MIT license.

import { MbError } from "../protocol/errors.ts";
import { hostAndPort, type Transport, type TransportOptions, unixPath } from "./transport.ts";

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
      const conn = await Deno.connect({ transport: "tcp", ...hostAndPort(url) });
      conn.setNoDelay(true);
      return conn;
    }
    case "tls:":
      return await Deno.connectTls({ ...hostAndPort(url), caCerts: options.caCerts });
    case "unix:":
      return await Deno.connect({ transport: "unix", path: unixPath(url) });
    default:
      throw new MbError("UNSUPPORTED_TRANSPORT", `Cannot connect to ${url}: unknown scheme`);
  }
}
