// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  MAX_FRAME_OVERHEAD,
  MbError,
  type ServerInfo,
} from "../protocol/mod.ts";
import { HttpApi } from "./gateway/http_api.ts";
import { MqttGateway } from "./gateway/mqtt_gateway.ts";
import { listenWeb, type WebListener } from "./gateway/web_listener.ts";
import { WS_MESSAGE_SLACK_BYTES } from "./gateway/websocket_conn.ts";
import { type Listener, listenTcp, listenTls, listenUnix } from "./listener.ts";
import { RetainedMessages } from "./retained.ts";
import { publishSysTopics } from "./sys_topics.ts";
import { Router } from "./router.ts";
import {
  Session,
  type SessionConn,
  type SessionOptions,
  type SlowConsumerPolicy,
} from "./session.ts";
import type { QueueConfig, StreamConfig } from "../protocol/durable.ts";
import { DurableStore } from "./store/durable_store.ts";
import type { SegmentLogFsync } from "./store/segment_log.ts";
import { VERSION } from "./version.ts";

const logger = getLogger(["mb", "broker"]);

/**
 * Certificate and key for the TLS listener, PEM text. The web listener (see
 * {@linkcode BrokerOptions.httpPort}) then serves HTTPS and WSS with them.
 */
export interface BrokerTlsOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
  /**
   * Port of the TLS listener; `0` picks a free one.
   *
   * @default {4151}
   */
  port?: number;
}

/** Options for {@linkcode Broker}. */
export interface BrokerOptions {
  /**
   * Address the TCP, TLS and web listeners bind.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port of the TCP listener; `0` picks a free one, `null` turns TCP off.
   *
   * @default {4150}
   */
  port?: number | null;
  /** Adds a TLS listener, and makes the web listener serve HTTPS and WSS. */
  tls?: BrokerTlsOptions;
  /**
   * Port of the web listener (`Deno.serve`): mb over WebSocket (subprotocol
   * `mb.v1`, on any path), the HTTP API under `/v1/`, and the browser
   * examples under `/examples/`. With {@linkcode BrokerOptions.tls} it
   * serves HTTPS and WSS with the same certificate. `0` picks a free port,
   * `null` turns it off.
   *
   * @default {4180}
   */
  httpPort?: number | null;
  /**
   * Port of the MQTT 3.1.1 listener; `0` picks a free one, `null` turns it
   * off. MQTT clients share topics, streams and queues with native ones;
   * the web listener also serves MQTT over WebSocket at `/mqtt`
   * (subprotocol `mqtt`) whenever this is not `null`.
   *
   * @default {1883}
   */
  mqttPort?: number | null;
  /**
   * Port of MQTT over TLS, with {@linkcode BrokerOptions.tls}'s certificate;
   * `null` turns it off.
   *
   * @default {8883}
   */
  mqttTlsPort?: number | null;
  /**
   * QoS 1 and 2 messages sent to one MQTT client and not yet acknowledged.
   *
   * @default {100}
   */
  mqttMaxInflight?: number;
  /**
   * QoS 1 and 2 messages kept per MQTT client while it is away (persistent
   * session) or its in-flight window is full; more are dropped and counted.
   *
   * @default {1000}
   */
  mqttMaxQueued?: number;
  /**
   * How often the broker publishes its figures under `$SYS/broker/`
   * (retained; see `publishSysTopics`); `0` turns them off.
   *
   * @default {10000}
   */
  sysIntervalMs?: number;
  /** Adds a unix-socket listener at this path. */
  unixPath?: string;
  /** A token every client must present in its hello frame. */
  token?: string;
  /**
   * Largest publish payload, in bytes.
   *
   * @default {1048576}
   */
  maxPayloadBytes?: number;
  /**
   * Most subscriptions one connection may hold.
   *
   * @default {10000}
   */
  maxSubscriptions?: number;
  /**
   * Most client connections at once; more are refused with
   * `CONNECTION_LIMIT`.
   *
   * @default {65536}
   */
  maxConnections?: number;
  /**
   * Outbound bytes buffered per connection before the slow-consumer policy
   * applies.
   *
   * @default {67108864}
   */
  maxPendingBytes?: number;
  /**
   * What happens to a client that does not read fast enough: `"drop"` its
   * messages (counted), or `"disconnect"` it with a `SLOW_CONSUMER` error.
   *
   * @default {"disconnect"}
   */
  slowConsumer?: SlowConsumerPolicy;
  /**
   * Time a new connection has to send its hello frame.
   *
   * @default {5000}
   */
  handshakeTimeoutMs?: number;
  /**
   * How often an idle connection is pinged. A connection that answers
   * nothing to two pings in a row is closed with `STALE_CONNECTION`.
   *
   * @default {30000}
   */
  pingIntervalMs?: number;
  /**
   * Directory of the durable store (segment files of streams and queues).
   * Without it, streams and queues live in memory and are lost when the
   * broker stops; the broker logs this at start.
   *
   * @default {undefined}
   */
  dataDir?: string;
  /**
   * When the store syncs to disk: `"always"` (a confirmed publish, a send
   * and an ack are on disk before they are confirmed; concurrent writes
   * share one sync), `"interval"` (every `fsyncIntervalMs`; a crash of the
   * machine may lose that much) or `"never"` (the OS decides).
   *
   * @default {"always"}
   */
  fsync?: SegmentLogFsync;
  /**
   * Sync period under `fsync: "interval"`.
   *
   * @default {1000}
   */
  fsyncIntervalMs?: number;
  /**
   * Most bytes on disk per stream or queue log; writes past it fail with
   * `STORAGE_FULL` and nothing accepted before is lost.
   *
   * @default {Infinity}
   */
  maxDiskBytes?: number;
  /**
   * Streams created at start when missing (updated when different).
   *
   * @default {[]}
   */
  streams?: StreamConfig[];
  /**
   * Queues declared at start.
   *
   * @default {[]}
   */
  queues?: QueueConfig[];
  /**
   * Origins of web pages, besides the broker's own, that may open WebSockets
   * and send state-changing HTTP requests (`"*"` for any). Requests without
   * an `Origin` header (programs, curl) are always served.
   *
   * @default {[]}
   */
  allowedOrigins?: string[];
  /**
   * Name of this broker in its info frame.
   *
   * @default {"mb"}
   */
  name?: string;
}

/** One address a broker listens on. */
export interface BrokerAddress {
  /** The transport; `http` and `https` are the web listener (WebSocket and HTTP API). */
  transport: "tcp" | "tls" | "unix" | "http" | "https" | "mqtt" | "mqtts";
  /**
   * The URL a client connects to, like `mb://127.0.0.1:4150`; for the web
   * listener `http://127.0.0.1:4180` (WebSocket clients use `ws://` there).
   */
  url: string;
  /** Host name or IP, for TCP, TLS and the web listener. */
  hostname?: string;
  /** Port, for TCP, TLS and the web listener. */
  port?: number;
  /** Socket path, for unix. */
  path?: string;
}

/** Counters of a running {@linkcode Broker}. */
export interface BrokerStats {
  /** Open client connections. */
  connections: number;
  /** Connections accepted since start. */
  totalConnections: number;
  /** Subscriptions held. */
  subscriptions: number;
  /** Messages published. */
  messagesIn: number;
  /** Deliveries routed, including ones a slow consumer's policy then dropped. */
  messagesOut: number;
  /** Deliveries dropped by the slow-consumer policy, over open connections. */
  dropped: number;
  /** Outbound bytes queued for clients, over open connections. */
  pendingBytes: number;
}

const MAX_PINGS_OUT = 2;

/**
 * The mb broker, embeddable in any Deno program: listeners for TCP, TLS,
 * unix sockets and the web (WebSocket and HTTP), a session per connection,
 * one routing core.
 *
 * @example Run a broker in-process on free ports
 * ```ts
 * import { Broker } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using broker = new Broker({ hostname: "127.0.0.1", port: 0, httpPort: 0, mqttPort: 0 });
 * await broker.start();
 * const [tcp, mqtt, web] = broker.addresses;
 * assert.match(tcp.url, /^mb:\/\/127\.0\.0\.1:\d+$/);
 * assert.match(mqtt.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
 * assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+$/);
 * ```
 */
export class Broker implements AsyncDisposable {
  #options: BrokerOptions;
  #router = new Router();
  #listeners: Listener[] = [];
  #web: WebListener | undefined;
  #api: HttpApi | undefined;
  #sessions = new Set<Session>();
  #nextClientId = 1;
  #totalConnections = 0;
  #keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  #sysTimer: ReturnType<typeof setInterval> | undefined;
  #startedAt = 0;
  #serverId = crypto.randomUUID();
  #sessionOptions: Omit<SessionOptions, "label">;
  #store: DurableStore | undefined;
  #retained: RetainedMessages | undefined;
  #mqtt: MqttGateway | undefined;
  #started = false;
  #stopping: Promise<void> | undefined;

  /**
   * Creates a broker; {@linkcode Broker.start} opens its listeners.
   *
   * @param options Listeners and limits.
   */
  constructor(options: BrokerOptions = {}) {
    this.#options = options;
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const maxSubscriptions = options.maxSubscriptions ?? 10_000;
    const pingIntervalMs = options.pingIntervalMs ?? 30_000;
    const maxFrameBytes = maxPayloadBytes + MAX_FRAME_OVERHEAD;
    const info = (clientId: number): ServerInfo => ({
      serverId: this.#serverId,
      serverVersion: VERSION,
      clientId,
      maxPayloadBytes,
      maxFrameBytes,
      maxSubscriptions,
      pingIntervalMs,
      store: this.#store?.kind,
    });
    this.#sessionOptions = {
      maxFrameBytes,
      maxPayloadBytes,
      maxSubscriptions,
      maxPendingBytes: options.maxPendingBytes ?? 64 * 1024 * 1024,
      slowConsumer: options.slowConsumer ?? "disconnect",
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
      token: options.token,
      info,
    };
  }

  /**
   * Opens the listeners and starts accepting clients.
   *
   * @throws {MbError} `INVALID_ARGUMENT` when already started.
   * @throws {Deno.errors.AddrInUse} when a port is taken.
   */
  async start(): Promise<void> {
    if (this.#started) throw new MbError("INVALID_ARGUMENT", "Cannot start a broker twice");
    this.#started = true;
    const options = this.#options;
    const hostname = options.hostname ?? "0.0.0.0";
    const accept = (conn: SessionConn, label: string) => this.#accept(conn, label);
    this.#store = await DurableStore.open({
      dir: options.dataDir,
      fsync: options.fsync,
      fsyncIntervalMs: options.fsyncIntervalMs,
      maxDiskBytes: options.maxDiskBytes,
      streams: options.streams,
      queues: options.queues,
    });
    if (options.dataDir === undefined) {
      logger.warn(
        "No data directory: streams and queues live in memory and are lost when the broker stops",
      );
    } else {
      logger.info("Store in {dir} (fsync {fsync})", {
        dir: options.dataDir,
        fsync: options.fsync ?? "always",
      });
    }
    this.#retained = await RetainedMessages.open({ dir: options.dataDir });
    try {
      if (options.mqttPort !== null) await this.#openMqtt();
      if (options.port !== null) {
        this.#listeners.push(listenTcp({ hostname, port: options.port ?? 4150 }, accept));
      }
      if (options.tls !== undefined) {
        this.#listeners.push(
          listenTls({
            hostname,
            port: options.tls.port ?? 4151,
            cert: options.tls.cert,
            key: options.tls.key,
          }, accept),
        );
      }
      if (options.unixPath !== undefined) {
        this.#listeners.push(await listenUnix(options.unixPath, accept));
      }
      const mqtt = this.#mqtt;
      if (mqtt !== undefined) {
        const acceptMqtt = (conn: SessionConn, label: string) => mqtt.accept(conn, label);
        this.#listeners.push(
          listenTcp({ hostname, port: options.mqttPort ?? 1883, protocol: "mqtt" }, acceptMqtt),
        );
        if (options.tls !== undefined && options.mqttTlsPort !== null) {
          this.#listeners.push(
            listenTls({
              hostname,
              port: options.mqttTlsPort ?? 8883,
              cert: options.tls.cert,
              key: options.tls.key,
              protocol: "mqtt",
            }, acceptMqtt),
          );
        }
      }
      // Last, so that its URL comes after the others.
      if (options.httpPort !== null) this.#listenWeb(hostname, options.httpPort ?? 4180, accept);
    } catch (error) {
      for (const listener of this.#listeners) listener.close();
      this.#listeners = [];
      await this.#api?.close();
      await this.#mqtt?.close();
      await this.#retained.close();
      await this.#store.close();
      throw error;
    }
    const interval = options.pingIntervalMs ?? 30_000;
    this.#keepaliveTimer = setInterval(() => this.#keepalive(), interval);
    this.#startedAt = Date.now();
    const sysIntervalMs = options.sysIntervalMs ?? 10_000;
    if (sysIntervalMs > 0) {
      this.#publishSys();
      this.#sysTimer = setInterval(() => this.#publishSys(), sysIntervalMs);
    }
    for (const address of this.addresses) {
      logger.info("Listening on {url}", { url: address.url });
    }
  }

  /**
   * The addresses the broker listens on, with the ports actually bound: TCP,
   * TLS, unix, MQTT (TCP, then TLS), then the web listener.
   */
  get addresses(): BrokerAddress[] {
    return this.#listeners.map((listener) => listener.address);
  }

  /** Current counters. */
  stats(): BrokerStats {
    const router = this.#router.stats();
    let dropped = 0;
    let pendingBytes = 0;
    for (const session of this.#sessions) {
      const stats = session.stats();
      dropped += stats.dropped;
      pendingBytes += stats.pendingBytes;
    }
    const mqtt = this.#mqtt?.stats();
    return {
      connections: this.#sessions.size + (mqtt?.connections ?? 0),
      totalConnections: this.#totalConnections,
      subscriptions: router.subscriptions,
      messagesIn: router.messagesIn,
      messagesOut: router.messagesOut,
      dropped: dropped + (mqtt?.dropped ?? 0),
      pendingBytes: pendingBytes + (mqtt?.pendingBytes ?? 0),
    };
  }

  /**
   * Stops accepting, tells every client goodbye, flushes what is queued for
   * them (waiting at most `timeoutMs`), and closes.
   *
   * @param options How long to wait for clients' outbound data.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.timeoutMs ?? 2000);
    return this.#stopping;
  }

  /** Same as {@linkcode Broker.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(timeoutMs: number): Promise<void> {
    clearInterval(this.#keepaliveTimer);
    clearInterval(this.#sysTimer);
    for (const listener of this.#listeners) listener.close();
    await Promise.all(this.#listeners.map((listener) => listener.done));
    const sessions = [...this.#sessions];
    await Promise.all([
      ...sessions.map((s) => s.goodbye("server shutting down", timeoutMs)),
      this.#mqtt?.close(timeoutMs),
      // Ends its SSE responses, which would otherwise keep the web listener open.
      this.#api?.close(),
    ]);
    // The web listener's port goes last: its WebSockets carried goodbyes.
    await this.#web?.shutdown(timeoutMs);
    await this.#retained?.close();
    await this.#store?.close();
    logger.info("Stopped after {count} connections", { count: this.#totalConnections });
  }

  #publishSys(): void {
    const stats = this.stats();
    publishSysTopics(this.#router, this.#retained!, {
      version: VERSION,
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
      connections: stats.connections,
      subscriptions: stats.subscriptions,
      messagesIn: stats.messagesIn,
      messagesOut: stats.messagesOut,
    });
  }

  async #openMqtt(): Promise<void> {
    const options = this.#options;
    const session = this.#sessionOptions;
    this.#mqtt = await MqttGateway.open({
      router: this.#router,
      store: this.#store!,
      retained: this.#retained!,
      dataDir: options.dataDir,
      maxPayloadBytes: session.maxPayloadBytes,
      // Fixed header (5) + topic (2 + 65535) + packet id (2) + payload.
      maxPacketBytes: session.maxPayloadBytes + 65544,
      maxPendingBytes: session.maxPendingBytes,
      slowConsumer: session.slowConsumer,
      maxInflight: options.mqttMaxInflight ?? 100,
      maxQueued: options.mqttMaxQueued ?? 1000,
      connectTimeoutMs: session.handshakeTimeoutMs,
      token: options.token,
      nextId: () => this.#nextClientId++,
    });
  }

  #listenWeb(
    hostname: string,
    port: number,
    accept: (conn: SessionConn, label: string) => void,
  ): void {
    const options = this.#options;
    const session = this.#sessionOptions;
    const api = new HttpApi({
      router: this.#router,
      store: this.#store!,
      maxPayloadBytes: session.maxPayloadBytes,
      maxPendingBytes: session.maxPendingBytes,
      slowConsumer: session.slowConsumer,
      token: options.token,
      nextId: () => this.#nextClientId++,
    });
    this.#api = api;
    const maxMessageBytes = session.maxFrameBytes + WS_MESSAGE_SLACK_BYTES;
    this.#web = listenWeb({
      hostname,
      port,
      tls: options.tls === undefined ? undefined : { cert: options.tls.cert, key: options.tls.key },
      handle: (request) => api.handle(request),
      allowedOrigins: options.allowedOrigins,
      accept,
      acceptMqtt: this.#mqtt === undefined
        ? undefined
        : (conn, label) => this.#mqtt!.accept(conn, label),
      maxMessageBytes,
      // A WebSocket cannot be paused: bound what a client sends unread.
      maxInboundBytes: Math.max(session.maxPendingBytes, 2 * maxMessageBytes),
    });
    this.#listeners.push(this.#web);
  }

  #accept(conn: SessionConn, label: string): void {
    if (this.#stopping !== undefined) {
      conn.close();
      return;
    }
    const maxConnections = this.#options.maxConnections ?? 65536;
    const id = this.#nextClientId++;
    this.#totalConnections++;
    const session = new Session(id, conn, this.#router, this.#store!, {
      ...this.#sessionOptions,
      label,
    });
    if (this.#sessions.size >= maxConnections) {
      session.fail("CONNECTION_LIMIT", `Too many connections: the limit is ${maxConnections}`);
    }
    this.#sessions.add(session);
    session.done.finally(() => this.#sessions.delete(session));
  }

  #keepalive(): void {
    for (const session of this.#sessions) {
      if (session.activity > 0) {
        session.activity = 0;
        continue;
      }
      if (!session.handshaken) continue;
      if (session.pingsOut >= MAX_PINGS_OUT) {
        session.fail("STALE_CONNECTION", `No answer to ${MAX_PINGS_OUT} pings`);
      } else session.ping();
    }
  }
}
