// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import type { Listener } from "../listener.ts";
import type { SessionConn } from "../session.ts";
import { serveStatic } from "./static_files.ts";
import {
  WebSocketConn,
  WS_PROTOCOL,
  WS_SUBPROTOCOL_REQUIRED,
  WsCloseCode,
} from "./websocket_conn.ts";

const logger = getLogger(["mb", "web"]);

/** The URL path the browser examples are served under. */
const EXAMPLES_PREFIX = "/examples";

/** Options of {@linkcode listenWeb}. */
export interface WebListenerOptions {
  /** Address to bind. */
  hostname: string;
  /** Port; `0` picks a free one. */
  port: number;
  /** Certificate chain and key (PEM): serve HTTPS and WSS instead of HTTP and WS. */
  tls?: { cert: string; key: string };
  /** Answers every request that is neither a WebSocket upgrade nor a static file. */
  handle(request: Request): Promise<Response>;
  /** Receives each WebSocket, once open, as a session connection. */
  accept(conn: SessionConn, label: string): void;
  /** Serves MQTT over WebSocket (path `/mqtt`, subprotocol `mqtt`) when given. */
  acceptMqtt?: (conn: SessionConn, label: string) => void;
  /** Largest WebSocket message accepted (1009 above it). */
  maxMessageBytes: number;
  /** Unread input per WebSocket before 1008 (see {@linkcode WebSocketConn}). */
  maxInboundBytes: number;
  /**
   * Directory served under `/examples/`.
   *
   * @default {new URL("../../examples/browser/", import.meta.url)}
   */
  staticRoot?: URL;
  /**
   * Origins (like `"https://app.example.com"`, or `"*"` for any) whose pages
   * may open WebSockets and send POST, PUT and DELETE requests besides the
   * broker's own; requests without an `Origin` header (curl, programs) are
   * always served.
   *
   * @default {[]}
   */
  allowedOrigins?: readonly string[];
}

/** The running web listener. */
export interface WebListener extends Listener {
  /**
   * Releases the port once the sessions have said goodbye: ends what is
   * still open (open WebSockets get 1001), waiting at most `timeoutMs` for
   * requests in flight and sockets to finish.
   */
  shutdown(timeoutMs: number): Promise<void>;
}

/** The WebSocket subprotocol of MQTT. */
const MQTT_WS_PROTOCOL = "mqtt";
/** The path MQTT over WebSocket is served on. */
const MQTT_WS_PATH = "/mqtt";

/**
 * Opens the broker's one web listener with `Deno.serve`: a WebSocket
 * upgrade on any path becomes a session (subprotocol `mb.v1`), or an MQTT
 * connection at `/mqtt` (subprotocol `mqtt`, with `options.acceptMqtt`), `GET
 * /examples/…` serves the browser examples, everything else goes to
 * `options.handle` (the HTTP API). With `options.tls` it serves HTTPS and
 * WSS.
 *
 * `close()` only stops accepting: new requests get 503 while the sessions
 * say goodbye over their sockets; {@linkcode WebListener.shutdown} then
 * releases the port.
 *
 * @param options Where to listen and what to serve.
 * @returns The running listener.
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 *
 * @example Listen on a free port
 * ```ts
 * import { listenWeb } from "./web_listener.ts";
 * import assert from "node:assert/strict";
 *
 * const web = listenWeb({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handle: () => Promise.resolve(new Response("api")),
 *   accept: (conn) => conn.close(),
 *   maxMessageBytes: 1 << 20,
 *   maxInboundBytes: 1 << 24,
 * });
 * const response = await fetch(`${web.address.url}/v1/anything`);
 * assert.equal(await response.text(), "api");
 * web.close();
 * await web.shutdown(1000);
 * ```
 */
export function listenWeb(options: WebListenerOptions): WebListener {
  const secure = options.tls !== undefined;
  const staticRoot = options.staticRoot ?? new URL("../../examples/browser/", import.meta.url);
  const sockets = new Set<Promise<void>>();
  let stopping = false;

  const upgrade = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response => {
    const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
      .map((protocol) => protocol.trim());
    // MQTT over WebSocket at /mqtt; mb's own protocol on any path.
    const mqtt = options.acceptMqtt !== undefined && offered.includes(MQTT_WS_PROTOCOL) &&
      new URL(request.url).pathname === MQTT_WS_PATH;
    const protocol = mqtt ? MQTT_WS_PROTOCOL : WS_PROTOCOL;
    const wanted = mqtt || offered.includes(WS_PROTOCOL);
    // The request's fields are gone once it is upgraded: read them first.
    const { hostname, port } = info.remoteAddr;
    const label = `${mqtt ? "mqtt+" : ""}${secure ? "wss" : "ws"} ${hostname}:${port}`;
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request, wanted ? { protocol } : {});
    } catch (error) {
      return errorResponse(
        400,
        "INVALID_ARGUMENT",
        `Cannot upgrade to a WebSocket: ${(error as Error).message}`,
      );
    }
    const { socket, response } = upgraded;
    const closed = new Promise<void>((resolve) =>
      socket.addEventListener("close", () => resolve(), { once: true })
    );
    sockets.add(closed);
    closed.then(() => sockets.delete(closed));
    socket.addEventListener("open", () => {
      if (!wanted) {
        socket.close(WsCloseCode.ProtocolError, WS_SUBPROTOCOL_REQUIRED);
        return;
      }
      const conn = new WebSocketConn(socket, {
        maxMessageBytes: options.maxMessageBytes,
        maxInboundBytes: options.maxInboundBytes,
      });
      if (mqtt) options.acceptMqtt!(conn, label);
      else options.accept(conn, label);
    }, { once: true });
    return response;
  };

  const handler = (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> => {
    if (stopping) {
      return errorResponse(503, "SERVER_SHUTDOWN", "The broker is shutting down");
    }
    const isUpgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    // A page of another site may open WebSockets and send simple POSTs to a
    // broker it can reach: refuse those unless their origin is allowed.
    const method = request.method;
    if (isUpgrade || (method !== "GET" && method !== "HEAD" && method !== "OPTIONS")) {
      const origin = request.headers.get("origin");
      if (origin !== null && !originAllowed(origin, request, secure, options.allowedOrigins)) {
        return errorResponse(
          403,
          "FORBIDDEN",
          `Cannot serve a request from origin ${JSON.stringify(origin)}: ` +
            "not this broker's origin nor one of allowedOrigins",
        );
      }
    }
    if (isUpgrade) return upgrade(request, info);
    const path = new URL(request.url).pathname;
    if (path === EXAMPLES_PREFIX || path.startsWith(`${EXAMPLES_PREFIX}/`)) {
      return serveStatic(request, { root: staticRoot, prefix: EXAMPLES_PREFIX });
    }
    return options.handle(request);
  };

  const serveOptions = {
    hostname: options.hostname,
    port: options.port,
    onListen() {},
    onError(error: unknown): Response {
      logger.error("Request failed: {error}", { error });
      return errorResponse(500, "INTERNAL", `Internal error: ${error}`);
    },
  };
  const server = options.tls === undefined
    ? Deno.serve(serveOptions, handler)
    : Deno.serve({ ...serveOptions, cert: options.tls.cert, key: options.tls.key }, handler);
  const { hostname, port } = server.addr;
  const scheme = secure ? "https" : "http";
  let shutdown: Promise<void> | undefined;
  return {
    address: {
      transport: scheme,
      url: `${scheme}://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
      hostname,
      port,
    },
    done: Promise.resolve(),
    close() {
      stopping = true;
    },
    shutdown(timeoutMs: number): Promise<void> {
      stopping = true;
      shutdown ??= (async () => {
        const end = Date.now() + timeoutMs;
        // Sockets first: server.shutdown() would cut the closing handshakes
        // the sessions started (with 1001). A peer that reads nothing never
        // finishes its handshake, hence the deadline.
        const socketsClosed = await within(Promise.all(sockets), end - Date.now());
        const requestsDone = await within(server.shutdown(), Math.max(0, end - Date.now()));
        if (!socketsClosed || !requestsDone) {
          logger.warn("Web listener on {url}: requests or sockets still open after {ms} ms", {
            url: `${scheme}://${hostname}:${port}`,
            ms: timeoutMs,
          });
        }
      })();
      return shutdown;
    },
  };
}

/** Whether `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a request with an `Origin` header comes from this broker's page or an allowed one. */
function originAllowed(
  origin: string,
  request: Request,
  secure: boolean,
  allowed: readonly string[] | undefined,
): boolean {
  if (allowed !== undefined && (allowed.includes("*") || allowed.includes(origin))) return true;
  const host = request.headers.get("host");
  return host !== null && origin === `${secure ? "https" : "http"}://${host}`;
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}
