// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import type { BrokerAddress } from "./broker.ts";

const logger = getLogger(["mb", "listener"]);

/** An open listener and its accept loop. */
export interface Listener {
  /** Where it listens. */
  readonly address: BrokerAddress;
  /** Stops accepting. */
  close(): void;
  /** Resolves when the accept loop has ended. */
  readonly done: Promise<void>;
}

/** Receives each accepted connection with a label for logs. */
export type AcceptHandler = (conn: Deno.Conn, label: string) => void;

/** The protocol a TCP or TLS listener serves: mb's own (default) or MQTT. */
export type ListenerProtocol = "mb" | "mqtt";

/**
 * Listens on TCP.
 *
 * @param options Host, port (`0` for a free port) and protocol.
 * @param accept Called for every connection.
 * @returns The running listener.
 */
export function listenTcp(
  options: { hostname: string; port: number; protocol?: ListenerProtocol },
  accept: AcceptHandler,
): Listener {
  const listener = Deno.listen({
    transport: "tcp",
    hostname: options.hostname,
    port: options.port,
  });
  const { hostname, port } = listener.addr;
  const mqtt = options.protocol === "mqtt";
  return run(listener, accept, {
    transport: mqtt ? "mqtt" : "tcp",
    url: `${mqtt ? "mqtt" : "mb"}://${urlHost(hostname)}:${port}`,
    hostname,
    port,
  });
}

/**
 * Listens on TLS.
 *
 * @param options Host, port, certificate and key (PEM), and protocol.
 * @param accept Called for every connection.
 * @returns The running listener.
 */
export function listenTls(
  options: {
    hostname: string;
    port: number;
    cert: string;
    key: string;
    protocol?: ListenerProtocol;
  },
  accept: AcceptHandler,
): Listener {
  const { protocol, ...tls } = options;
  const listener = Deno.listenTls({ transport: "tcp", ...tls });
  const { hostname, port } = listener.addr;
  const mqtt = protocol === "mqtt";
  return run(listener, accept, {
    transport: mqtt ? "mqtts" : "tls",
    url: `${mqtt ? "mqtts" : "tls"}://${urlHost(hostname)}:${port}`,
    hostname,
    port,
  });
}

/**
 * Listens on a unix socket, replacing a stale socket file left by a broker
 * that did not shut down cleanly (one nobody answers on).
 *
 * @param path The socket path.
 * @param accept Called for every connection.
 * @returns The running listener.
 */
export async function listenUnix(path: string, accept: AcceptHandler): Promise<Listener> {
  await removeStaleSocket(path);
  const listener = Deno.listen({ transport: "unix", path });
  const running = run(listener, accept, { transport: "unix", url: `unix://${path}`, path });
  return {
    address: running.address,
    done: running.done,
    close() {
      running.close();
      Deno.remove(path).catch(() => {});
    },
  };
}

function run(
  listener: Deno.Listener,
  accept: AcceptHandler,
  address: BrokerAddress,
): Listener {
  let closed = false;
  const done = (async () => {
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed || error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors and the like: log, back off, keep serving.
        logger.error("Accept failed on {url}: {error}", { url: address.url, error });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      let label: string = address.transport;
      if (conn.remoteAddr.transport === "tcp") {
        label = `${address.transport} ${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
        try {
          (conn as Deno.TcpConn).setNoDelay?.(true);
        } catch {
          // Not a TCP socket after all.
        }
      }
      accept(conn, label);
    }
  })();
  return {
    address,
    done,
    close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isSocket) return;
  } catch {
    return;
  }
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    probe.close();
  } catch {
    await Deno.remove(path);
  }
}

function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
