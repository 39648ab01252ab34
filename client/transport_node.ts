// Copyright mb authors. MIT license.
// Node.js only: `node:net` and `node:tls` sockets as web streams.

import * as net from "node:net";
import * as tls from "node:tls";
import { MbError } from "../protocol/errors.ts";
import { hostAndPort, type Transport, type TransportOptions, unixPath } from "./transport.ts";

/**
 * Opens a transport with Node.js sockets: `mb:`/`tcp:` and `unix:` with
 * `node:net`, `tls:` with `node:tls`. The readable pauses the socket when its
 * queue is full, so a slow reader never buffers without bound.
 *
 * @param url The server URL.
 * @param options Trust anchors for TLS.
 * @returns The open transport.
 * @throws {MbError} `UNSUPPORTED_TRANSPORT` for another scheme.
 *
 * @example
 * ```ts ignore
 * import { connectNode } from "./transport_node.ts";
 *
 * const transport = await connectNode(new URL("mb://127.0.0.1:4150"), {});
 * transport.close();
 * ```
 */
export function connectNode(url: URL, options: TransportOptions): Promise<Transport> {
  let socket: net.Socket;
  let ready: string;
  switch (url.protocol) {
    case "mb:":
    case "tcp:":
      socket = net.connect({ ...hostAndPort(url), noDelay: true });
      ready = "connect";
      break;
    case "tls:": {
      const { hostname, port } = hostAndPort(url);
      socket = tls.connect({
        host: hostname,
        port,
        servername: net.isIP(hostname) ? undefined : hostname,
        ca: options.caCerts,
      });
      socket.setNoDelay(true);
      ready = "secureConnect";
      break;
    }
    case "unix:":
      socket = net.connect({ path: unixPath(url) });
      ready = "connect";
      break;
    default:
      return Promise.reject(
        new MbError("UNSUPPORTED_TRANSPORT", `Cannot connect to ${url}: unknown scheme`),
      );
  }
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once("error", fail);
    socket.once(ready, () => {
      socket.off("error", fail);
      resolve(wrap(socket));
    });
  });
}

function wrap(socket: net.Socket): Transport {
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (chunk: Uint8Array) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) socket.pause();
      });
      socket.once("end", () => {
        try {
          controller.close();
        } catch {
          // Already errored.
        }
      });
      socket.once("error", (error) => {
        try {
          controller.error(error);
        } catch {
          // Already closed.
        }
      });
      socket.once("close", () => {
        try {
          controller.close();
        } catch {
          // Already closed or errored.
        }
      });
    },
    pull() {
      socket.resume();
    },
    cancel() {
      socket.destroy();
    },
  }, { highWaterMark: 8 });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (socket.destroyed) throw new MbError("CONNECTION_CLOSED", "Cannot write: socket closed");
      if (socket.write(chunk)) return;
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          socket.off("drain", done);
          socket.off("close", closed);
          resolve();
        };
        const closed = () => {
          socket.off("drain", done);
          reject(new MbError("CONNECTION_CLOSED", "Cannot write: socket closed"));
        };
        socket.on("drain", done);
        socket.once("close", closed);
      });
    },
    close() {
      socket.end();
    },
    abort() {
      socket.destroy();
    },
  });
  return { readable, writable, close: () => socket.destroy() };
}
