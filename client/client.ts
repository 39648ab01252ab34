// Copyright mb authors. MIT license.
// This module is browser compatible.

import { readU32, utf8Length, writeUtf8 } from "../protocol/_bytes.ts";
import { isMbErrorCode, MbError, type MbErrorCode } from "../protocol/errors.ts";
import { FrameBatch } from "../protocol/frame_batch.ts";
import { FrameDecoder } from "../protocol/frame_decoder.ts";
import {
  type DeliverFrame,
  type Frame,
  FrameType,
  PROTOCOL_VERSION,
  type ServerInfo,
} from "../protocol/frames.ts";
import { encodeHeaders } from "../protocol/headers.ts";
import { patternProblem, topicProblem } from "../protocol/topic.ts";
import { Message } from "./message.ts";
import { type SubscribeOptions, Subscription } from "./subscription.ts";
import type { Transport, TransportFactory } from "./transport.ts";

/** Client library version, sent in the hello frame. */
export const CLIENT_VERSION = "0.1.0";

/** A change in the connection's state, for {@linkcode ConnectOptions.onStatus}. */
export type StatusEvent =
  | { type: "disconnect"; server: string; error?: Error }
  | { type: "reconnecting"; server: string; attempt: number; delayMs: number }
  | { type: "reconnect"; server: string }
  | { type: "error"; error: Error }
  | { type: "close"; error?: MbError };

/** Options for `connect()`. */
export interface ConnectOptions {
  /** A name for this client in the broker's logs. */
  name?: string;
  /** A token, when the broker requires one. */
  token?: string;
  /** Extra trust anchors (PEM) for `tls:` servers with private certificates. */
  caCerts?: string[];
  /**
   * Reconnect after losing the connection, trying every server URL in turn
   * with exponential backoff, and restore subscriptions.
   *
   * @default {true}
   */
  reconnect?: boolean;
  /**
   * Attempts before giving up; `Infinity` never gives up.
   *
   * @default {Infinity}
   */
  maxReconnectAttempts?: number;
  /**
   * First reconnect delay; it doubles per attempt, with jitter.
   *
   * @default {100}
   */
  reconnectDelayMs?: number;
  /**
   * Longest reconnect delay.
   *
   * @default {5000}
   */
  maxReconnectDelayMs?: number;
  /**
   * Time allowed to open a connection and finish the handshake.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * How often an idle connection is pinged; two unanswered pings mark it
   * dead and start a reconnect.
   *
   * @default {30000}
   */
  pingIntervalMs?: number;
  /**
   * Bytes of publishes held while reconnecting; beyond it publishing fails
   * with `CONNECTION_CLOSED`.
   *
   * @default {8388608}
   */
  reconnectBufferBytes?: number;
  /** Called on every connection state change. */
  onStatus?: (event: StatusEvent) => void;
}

/** Options for {@linkcode Client.publish}. */
export interface PublishOptions {
  /** Message headers. */
  headers?: Record<string, string>;
  /** Where replies should go. */
  replyTo?: string;
  /**
   * Resolve only once the broker has accepted the message (and rejected with
   * its error otherwise).
   *
   * @default {false}
   */
  confirm?: boolean;
}

/** Options for {@linkcode Client.request}. */
export interface RequestOptions {
  /** Request headers. */
  headers?: Record<string, string>;
  /**
   * Time to wait for the reply.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /** Cancels the request. */
  signal?: AbortSignal;
}

interface Pending {
  /** Sequence number of the frame that asked; see `#sentSeq`. */
  seq: number;
  resolve(): void;
  reject(error: Error): void;
}

interface PendingRequest {
  resolve(message: Message): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Outbound bytes beyond which `publish` asks callers to wait. */
const HIGH_WATER_BYTES = 1024 * 1024;
const FLUSH_THRESHOLD_BYTES = 64 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const MAX_PINGS_OUT = 2;
/** Error codes after which the server closes the connection. */
const CONNECTION_FATAL: ReadonlySet<MbErrorCode> = new Set<MbErrorCode>([
  "FRAME_TOO_LARGE",
  "FRAME_MALFORMED",
  "FRAME_UNKNOWN",
  "PROTOCOL_VERSION",
  "HANDSHAKE_REQUIRED",
  "HANDSHAKE_TIMEOUT",
  "AUTH_FAILED",
  "SLOW_CONSUMER",
  "STALE_CONNECTION",
  "CONNECTION_LIMIT",
]);

/** How a client reaches its servers; `connect()` fills this in. */
export interface ClientTransportConfig {
  /** Server URLs, tried in order. */
  servers: URL[];
  /** Opens a transport to one of them. */
  factory: TransportFactory;
}

/**
 * A connection to an mb broker. Create one with `connect()`.
 *
 * `publish()` appends to an outbound batch and returns at once; the batch is
 * written once per tick (or as soon as it passes 64 KiB), one write in
 * flight. Subscriptions are async iterables, or take a callback.
 *
 * @example Publish and subscribe
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * const sub = mb.subscribe("greetings/+");
 * await mb.publish("greetings/world", "hello");
 * for await (const msg of sub) {
 *   console.log(msg.topic, msg.text());
 *   break;
 * }
 * ```
 */
export class Client implements AsyncDisposable {
  #config: ClientTransportConfig;
  #options: ConnectOptions;
  #transport: Transport | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #server: URL;
  #info: ServerInfo | undefined;
  #batch = new FrameBatch();
  #writing = false;
  #flushing: Promise<void> = RESOLVED;
  #scheduled = false;
  #drainWaiters: (() => void)[] = [];
  #subs = new Map<number, Subscription>();
  #nextSid = 1;
  #nextRequestId = 1;
  #pending = new Map<number, Pending>();
  #pongWaiters: Pending[] = [];
  #seq = 0;
  #sentSeq = 0;
  #inbox: string;
  #inboxSub: Subscription | undefined;
  #requests = new Map<string, PendingRequest>();
  #nextToken = 1;
  #state: "connected" | "reconnecting" | "closing" | "closed" = "connected";
  #closedResolve!: (error: MbError | undefined) => void;
  #closed: Promise<MbError | undefined>;
  #keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  #activity = 0;
  #pingsOut = 0;
  #readLoop: Promise<void> = RESOLVED;
  #reconnectAbort = new AbortController();

  /**
   * Use `connect()`; this constructor takes an already open, handshaken
   * transport.
   *
   * @param config Servers and transport factory.
   * @param options Connection options.
   * @param opened The first open connection.
   */
  constructor(config: ClientTransportConfig, options: ConnectOptions, opened: OpenConnection) {
    this.#config = config;
    this.#options = options;
    this.#server = opened.server;
    this.#inbox = `_inbox/${randomId()}`;
    this.#closed = new Promise((resolve) => this.#closedResolve = resolve);
    this.#attach(opened);
    const interval = options.pingIntervalMs ?? 30_000;
    this.#keepaliveTimer = setInterval(() => this.#keepalive(), interval);
  }

  /** What the server said about itself in the handshake. */
  get info(): ServerInfo {
    return this.#info!;
  }

  /** The URL of the server this client is connected to (or was last). */
  get server(): string {
    return this.#server.href;
  }

  /** Whether the client has been closed for good. */
  get isClosed(): boolean {
    return this.#state === "closed";
  }

  /**
   * Resolves when the client is closed for good: with `undefined` after
   * {@linkcode Client.close}, or with the error that ended it (for example
   * `AUTH_FAILED`, or `CONNECTION_CLOSED` when reconnecting gave up).
   */
  get closed(): Promise<MbError | undefined> {
    return this.#closed;
  }

  /**
   * Publishes a message. Without `confirm`, the returned promise resolves at
   * once unless the outbound buffer is full, in which case it resolves when
   * there is room again: awaiting it in a loop applies backpressure. With
   * `confirm`, it resolves once the broker accepted the message.
   *
   * @param topic The topic; no wildcards.
   * @param data The payload: text (sent as UTF-8) or bytes.
   * @param options Headers, reply-to, confirmation.
   * @returns Resolves as described above.
   * @throws {MbError} `TOPIC_INVALID`, `PAYLOAD_TOO_LARGE`, `HEADERS_INVALID`,
   * or `CONNECTION_CLOSED` (as a rejection).
   *
   * @example
   * ```ts ignore
   * await mb.publish("sensors/kitchen", "22.5");
   * await mb.publish("orders/new", JSON.stringify(order), { confirm: true });
   * ```
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): Promise<void> {
    const problem = topicProblem(topic);
    if (problem !== undefined) {
      return Promise.reject(
        new MbError("TOPIC_INVALID", `Cannot publish to ${JSON.stringify(topic)}: ${problem}`),
      );
    }
    const replyTo = options?.replyTo ?? "";
    try {
      if (replyTo !== "") {
        const replyProblem = topicProblem(replyTo);
        if (replyProblem !== undefined) {
          throw new MbError(
            "TOPIC_INVALID",
            `Invalid reply-to ${JSON.stringify(replyTo)}: ${replyProblem}`,
          );
        }
      }
      const headers = options?.headers === undefined ? undefined : encodeHeaders(options.headers);
      const confirm = options?.confirm === true;
      const requestId = confirm ? this.#nextRequestId++ : 0;
      this.#appendPublish(requestId, topic, replyTo, headers, data);
      if (confirm) return this.#await(requestId);
      if (this.#batch.byteLength >= HIGH_WATER_BYTES && this.#state === "connected") {
        return new Promise((resolve) => this.#drainWaiters.push(resolve));
      }
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Subscribes to a pattern (`+` one level, `#` the rest).
   *
   * @param pattern The pattern.
   * @param options Queue group, callback, limits.
   * @returns The subscription, iterable at once; the server applies it
   * before any later publish on this connection.
   * @throws {MbError} `TOPIC_INVALID` for a bad pattern, `CONNECTION_CLOSED`
   * after close.
   *
   * @example
   * ```ts ignore
   * const sub = mb.subscribe("jobs/#", { queue: "workers" });
   * for await (const job of sub) await handle(job);
   * ```
   */
  subscribe(pattern: string, options?: SubscribeOptions): Subscription {
    const problem = patternProblem(pattern);
    if (problem !== undefined) {
      throw new MbError(
        "TOPIC_INVALID",
        `Cannot subscribe to ${JSON.stringify(pattern)}: ${problem}`,
      );
    }
    const queue = options?.queue ?? "";
    if (queue.includes("/") || queue.includes("+") || queue.includes("#")) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Invalid queue group ${JSON.stringify(queue)}: '/', '+' and '#' are not allowed`,
      );
    }
    this.#assertOpen();
    const sid = this.#nextSid++;
    const sub = new Subscription(this.#owner, sid, pattern, options);
    this.#subs.set(sid, sub);
    if (this.#state === "connected") this.#sendSubscribe(sub);
    return sub;
  }

  /**
   * Sends a request and waits for one reply, through a per-client inbox.
   *
   * @param topic Where the request goes.
   * @param data The request payload.
   * @param options Timeout, headers, abort signal.
   * @returns The reply.
   * @throws {MbError} `NO_RESPONDERS` when nobody subscribes to `topic`,
   * `TIMEOUT` when no reply comes in time.
   *
   * @example
   * ```ts ignore
   * const reply = await mb.request("time/now", "", { timeoutMs: 1000 });
   * console.log(reply.text());
   * ```
   */
  request(topic: string, data: string | Uint8Array, options?: RequestOptions): Promise<Message> {
    try {
      this.#assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    this.#inboxSub ??= this.subscribe(`${this.#inbox}/+`, {
      callback: (message) => this.#onReply(message),
    });
    const token = String(this.#nextToken++);
    const timeoutMs = options?.timeoutMs ?? 5000;
    return new Promise<Message>((resolve, reject) => {
      const settle = (error: Error | undefined, message?: Message) => {
        if (!this.#requests.delete(token)) return;
        clearTimeout(timer);
        options?.signal?.removeEventListener("abort", abort);
        if (error !== undefined) reject(error);
        else resolve(message!);
      };
      const abort = () =>
        settle(options!.signal!.reason ?? new MbError("TIMEOUT", "Request aborted"));
      const timer = setTimeout(
        () =>
          settle(
            new MbError(
              "TIMEOUT",
              `No reply to request on ${JSON.stringify(topic)} within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      this.#requests.set(token, {
        timer,
        resolve: (message) => settle(undefined, message),
        reject: (error) => settle(error),
      });
      if (options?.signal?.aborted) return abort();
      options?.signal?.addEventListener("abort", abort, { once: true });
      this.publish(topic, data, {
        headers: options?.headers,
        replyTo: `${this.#inbox}/${token}`,
        confirm: true,
      }).catch((error) => settle(error));
    });
  }

  /**
   * A round trip to the server: resolves when everything published before
   * it has been processed by the broker.
   *
   * @returns Resolves on the server's answer.
   * @throws {MbError} `CONNECTION_CLOSED` when the connection is lost first.
   */
  flush(): Promise<void> {
    try {
      this.#assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pongWaiters.push({ seq: ++this.#seq, resolve, reject });
      this.#append({ type: FrameType.Ping });
    });
  }

  /**
   * Unsubscribes everything, lets the messages already received be iterated,
   * flushes outbound messages, then closes.
   *
   * @returns Resolves when closed.
   */
  async drain(): Promise<void> {
    if (this.#state === "closed" || this.#state === "closing") return;
    const subs = [...this.#subs.values()];
    const unsubscribed = subs.map((sub) => sub.unsubscribe().catch(() => {}));
    await Promise.all(unsubscribed);
    await this.flush().catch(() => {});
    await this.close();
  }

  /**
   * Says goodbye to the server, writes what is queued, closes the
   * connection, ends every subscription and fails pending requests with
   * `CONNECTION_CLOSED`.
   *
   * @returns Resolves when closed.
   */
  async close(): Promise<void> {
    if (this.#state === "closed" || this.#state === "closing") {
      await this.#closed;
      return;
    }
    const wasConnected = this.#state === "connected";
    this.#state = "closing";
    this.#reconnectAbort.abort();
    if (wasConnected) {
      this.#append({ type: FrameType.Goodbye, reason: "" });
      await this.#waitWritten(1000);
    }
    this.#finish(undefined);
    await this.#readLoop;
  }

  /** Same as {@linkcode Client.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // The subscription's view of the client.
  #owner = {
    unsubscribe: (sid: number): Promise<void> => {
      if (!this.#subs.delete(sid)) return RESOLVED;
      if (this.#state !== "connected") return RESOLVED;
      const requestId = this.#nextRequestId++;
      this.#append({ type: FrameType.Unsubscribe, requestId, sid });
      return this.#await(requestId).catch((error) => {
        if (error instanceof MbError && error.code === "CONNECTION_CLOSED") return;
        throw error;
      });
    },
  };

  #sendSubscribe(sub: Subscription): void {
    const requestId = this.#nextRequestId++;
    this.#append({
      type: FrameType.Subscribe,
      requestId,
      sid: sub.sid,
      pattern: sub.pattern,
      queue: sub.queue,
    });
    this.#await(requestId).catch((error) => {
      if (error instanceof MbError && error.code === "CONNECTION_CLOSED") return;
      this.#subs.delete(sub.sid);
      sub.end(error);
    });
  }

  #await(requestId: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { seq: ++this.#seq, resolve, reject });
    });
  }

  #appendPublish(
    requestId: number,
    topic: string,
    replyTo: string,
    headers: Uint8Array | undefined,
    data: string | Uint8Array,
  ): void {
    this.#assertOpen();
    let payload: Uint8Array;
    if (typeof data === "string") {
      const length = utf8Length(data);
      payload = new Uint8Array(length);
      writeUtf8(data, length, payload, 0);
    } else payload = data;
    const max = this.#info?.maxPayloadBytes;
    if (max !== undefined && payload.length > max) {
      throw new MbError(
        "PAYLOAD_TOO_LARGE",
        `Cannot publish ${payload.length} bytes: the server's limit is ${max}`,
      );
    }
    if (this.#state === "reconnecting") {
      const limit = this.#options.reconnectBufferBytes ?? 8 * 1024 * 1024;
      if (this.#batch.byteLength + payload.length > limit) {
        throw new MbError(
          "CONNECTION_CLOSED",
          `Cannot publish: disconnected and ${limit} bytes are already buffered`,
        );
      }
    }
    this.#append({ type: FrameType.Publish, requestId, topic, replyTo, headers, payload });
  }

  #append(frame: Frame): void {
    this.#batch.append(frame);
    if (this.#state !== "connected" && this.#state !== "closing") return;
    if (this.#batch.byteLength >= FLUSH_THRESHOLD_BYTES && !this.#writing) {
      void this.#flushNow();
    } else if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      queueMicrotask(() => void this.#flushNow());
    }
  }

  #flushNow(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return this.#flushing;
    const writer = this.#writer;
    if (writer === undefined) return RESOLVED;
    this.#writing = true;
    this.#flushing = this.#writeLoop(writer);
    return this.#flushing;
  }

  async #writeLoop(writer: WritableStreamDefaultWriter<Uint8Array>): Promise<void> {
    try {
      while (this.#batch.byteLength > 0 && this.#writer === writer) {
        const bytes = this.#batch.take();
        this.#sentSeq = this.#seq;
        await writer.write(bytes);
        if (this.#batch.byteLength < HIGH_WATER_BYTES) this.#wakeDrainWaiters();
      }
    } catch {
      // The read loop sees the broken connection and reconnects.
    } finally {
      this.#writing = false;
    }
    this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  async #waitWritten(timeoutMs: number): Promise<void> {
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeoutMs);
    });
    try {
      while (
        (this.#batch.byteLength > 0 || this.#writing) && this.#writer !== undefined && !timedOut
      ) {
        await Promise.race([this.#flushNow(), timeout]);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #attach(opened: OpenConnection): void {
    this.#transport = opened.transport;
    this.#writer = opened.writer;
    this.#info = opened.info;
    this.#server = opened.server;
    this.#activity++;
    this.#pingsOut = 0;
    this.#readLoop = this.#read(opened);
  }

  async #read(opened: OpenConnection): Promise<void> {
    let error: Error | undefined;
    try {
      while (true) {
        const { value: frame, done } = await opened.reader.read();
        if (done) break;
        this.#activity++;
        this.#pingsOut = 0;
        this.#dispatch(frame);
      }
    } catch (cause) {
      error = cause instanceof Error ? cause : new Error(String(cause));
    }
    if (this.#transport !== opened.transport) return;
    this.#lost(error);
  }

  #dispatch(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Deliver: {
        const sub = this.#subs.get(frame.sid);
        if (sub !== undefined) sub.push(this.#message(frame));
        return;
      }
      case FrameType.Ok: {
        const pending = this.#pending.get(frame.requestId);
        if (pending !== undefined) {
          this.#pending.delete(frame.requestId);
          pending.resolve();
        }
        return;
      }
      case FrameType.Error: {
        const error = new MbError(asCode(frame.code), frame.message);
        if (frame.requestId !== 0) {
          const pending = this.#pending.get(frame.requestId);
          if (pending !== undefined) {
            this.#pending.delete(frame.requestId);
            pending.reject(error);
          }
          return;
        }
        // A request sent without an id was refused, or (for the codes in
        // CONNECTION_FATAL) the server is about to close the connection.
        if (CONNECTION_FATAL.has(error.code)) this.#connectionError = error;
        this.#options.onStatus?.({ type: "error", error });
        return;
      }
      case FrameType.Ping:
        this.#append({ type: FrameType.Pong });
        return;
      case FrameType.Pong:
        this.#pongWaiters.shift()?.resolve();
        return;
      case FrameType.Goodbye:
        // The server is going away; the read loop ends next and reconnects.
        return;
      default:
        return;
    }
  }

  #connectionError: MbError | undefined;

  #message(frame: DeliverFrame): Message {
    return new Message(frame.topic, frame.payload, {
      replyTo: frame.replyTo,
      headerBlock: frame.headers,
      responder: this,
    });
  }

  #onReply(message: Message): void {
    const token = message.topic.slice(this.#inbox.length + 1);
    this.#requests.get(token)?.resolve(message);
  }

  /** The connection broke (not by `close()`): fail what was sent, reconnect. */
  #lost(error: Error | undefined): void {
    const connectionError = this.#connectionError;
    this.#connectionError = undefined;
    this.#detach();
    if (this.#state !== "connected") return;
    const server = this.#server.href;
    this.#options.onStatus?.({ type: "disconnect", server, error: connectionError ?? error });
    this.#failSent(
      new MbError("CONNECTION_CLOSED", `Connection to ${server} lost`, { cause: error }),
    );
    const fatal = connectionError !== undefined &&
      (connectionError.code === "AUTH_FAILED" || connectionError.code === "PROTOCOL_VERSION");
    if (fatal || this.#options.reconnect === false) {
      this.#finish(
        connectionError ??
          new MbError("CONNECTION_CLOSED", `Connection to ${server} lost`, { cause: error }),
      );
      return;
    }
    this.#state = "reconnecting";
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    const options = this.#options;
    const servers = this.#config.servers;
    const maxAttempts = options.maxReconnectAttempts ?? Infinity;
    const baseDelay = options.reconnectDelayMs ?? 100;
    const maxDelay = options.maxReconnectDelayMs ?? 5000;
    const signal = this.#reconnectAbort.signal;
    const start = Math.max(0, servers.findIndex((url) => url.href === this.#server.href));
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const delayMs = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt - 1, 16)) *
        (0.5 + Math.random() / 2);
      const server = servers[(start + attempt) % servers.length];
      options.onStatus?.({ type: "reconnecting", server: server.href, attempt, delayMs });
      await sleep(delayMs, signal);
      if (signal.aborted) return;
      try {
        const opened = await openConnection(server, this.#config.factory, options);
        if (signal.aborted) {
          opened.transport.close();
          return;
        }
        this.#restore(opened);
        options.onStatus?.({ type: "reconnect", server: server.href });
        return;
      } catch (error) {
        lastError = error instanceof Error ? error : new Error(String(error));
        if (
          error instanceof MbError &&
          (error.code === "AUTH_FAILED" || error.code === "PROTOCOL_VERSION")
        ) {
          this.#finish(error);
          return;
        }
      }
    }
    this.#finish(
      new MbError("CONNECTION_CLOSED", `Cannot reconnect after ${maxAttempts} attempts`, {
        cause: lastError,
      }),
    );
  }

  /** Re-subscribes on a new connection, then sends what was buffered. */
  #restore(opened: OpenConnection): void {
    const buffered = this.#batch.take();
    this.#state = "connected";
    this.#attach(opened);
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
    this.#keepBuffered(buffered);
    if (this.#batch.byteLength > 0 && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => void this.#flushNow());
    }
  }

  /**
   * Re-queues the frames that were buffered but never sent: publishes and
   * pings go out on the new connection; subscribe and unsubscribe frames are
   * dropped (subscriptions are restored from the client's own state) and
   * their pending answers settled.
   */
  #keepBuffered(bytes: Uint8Array): void {
    let at = 0;
    while (at + 5 <= bytes.length) {
      const end = at + 4 + readU32(bytes, at);
      const type = bytes[at + 4];
      if (type === FrameType.Publish || type === FrameType.Ping) {
        this.#batch.appendBytes(bytes.subarray(at, end));
      } else if (type === FrameType.Subscribe || type === FrameType.Unsubscribe) {
        const requestId = readU32(bytes, at + 5);
        this.#pending.get(requestId)?.resolve();
        this.#pending.delete(requestId);
      }
      at = end;
    }
  }

  #detach(): void {
    const transport = this.#transport;
    this.#transport = undefined;
    this.#writer = undefined;
    this.#writing = false;
    try {
      transport?.close();
    } catch {
      // Already closed.
    }
  }

  /** Rejects what was written to the lost connection; keeps what was not. */
  #failSent(error: MbError): void {
    const sentSeq = this.#sentSeq;
    for (const [id, pending] of this.#pending) {
      if (pending.seq <= sentSeq) {
        this.#pending.delete(id);
        pending.reject(error);
      }
    }
    const keep: Pending[] = [];
    for (const waiter of this.#pongWaiters) {
      if (waiter.seq <= sentSeq) waiter.reject(error);
      else keep.push(waiter);
    }
    this.#pongWaiters = keep;
  }

  #finish(error: MbError | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#keepaliveTimer);
    this.#reconnectAbort.abort();
    this.#detach();
    this.#batch.clear();
    const closedError = new MbError("CONNECTION_CLOSED", "The client is closed", { cause: error });
    this.#sentSeq = this.#seq;
    this.#failSent(closedError);
    for (const request of this.#requests.values()) request.reject(closedError);
    for (const sub of this.#subs.values()) sub.end();
    this.#subs.clear();
    this.#wakeDrainWaiters();
    this.#options.onStatus?.({ type: "close", error });
    this.#closedResolve(error);
  }

  #keepalive(): void {
    if (this.#state !== "connected") return;
    if (this.#activity > 0) {
      this.#activity = 0;
      return;
    }
    if (this.#pingsOut >= MAX_PINGS_OUT) {
      // The server stopped answering: drop the connection and reconnect.
      this.#transport?.close();
      return;
    }
    this.#pingsOut++;
    this.#append({ type: FrameType.Ping });
    this.#pongWaiters.push({ seq: ++this.#seq, resolve() {}, reject() {} });
  }

  #assertOpen(): void {
    if (this.#state === "closed" || this.#state === "closing") {
      throw new MbError("CONNECTION_CLOSED", "The client is closed");
    }
  }
}

/** A transport after a successful handshake. */
export interface OpenConnection {
  /** The server it reached. */
  server: URL;
  /** The transport. */
  transport: Transport;
  /** Its writer. */
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Its decoded frames, after the info frame. */
  reader: ReadableStreamDefaultReader<Frame>;
  /** The server's info. */
  info: ServerInfo;
}

/**
 * Opens a transport and performs the handshake: hello out, info (or an
 * error frame) back, all within `timeoutMs`.
 *
 * @param server The server URL.
 * @param factory The transport factory.
 * @param options Name, token, TLS trust, timeout.
 * @returns The open, handshaken connection.
 * @throws {MbError} the server's error (`AUTH_FAILED`, ...), `TIMEOUT`, or
 * `CONNECTION_FAILED`.
 */
export async function openConnection(
  server: URL,
  factory: TransportFactory,
  options: ConnectOptions,
): Promise<OpenConnection> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(
        new MbError(
          "TIMEOUT",
          `Cannot connect to ${server.href}: no handshake within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
  });
  let transport: Transport | undefined;
  try {
    transport = await Promise.race([
      factory(server, { caCerts: options.caCerts, signal: abort.signal }).catch((cause) => {
        if (cause instanceof MbError) throw cause;
        throw new MbError(
          "CONNECTION_FAILED",
          `Cannot connect to ${server.href}: ${cause?.message ?? cause}`,
          { cause },
        );
      }),
      timeout,
    ]);
    const writer = transport.writable.getWriter();
    const reader = transport.readable
      .pipeThrough(new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES }))
      .getReader();
    const hello = new FrameBatch({ initialBytes: 256 });
    hello.append({
      type: FrameType.Hello,
      version: PROTOCOL_VERSION,
      hello: { name: options.name, token: options.token, lang: `mb.ts/${CLIENT_VERSION}` },
    });
    await Promise.race([writer.write(hello.take()), timeout]);
    const first = await Promise.race([reader.read(), timeout]);
    if (first.done) {
      throw new MbError(
        "CONNECTION_FAILED",
        `Cannot connect to ${server.href}: closed during the handshake`,
      );
    }
    const frame = first.value;
    if (frame.type === FrameType.Error) {
      throw new MbError(asCode(frame.code), frame.message);
    }
    if (frame.type !== FrameType.Info) {
      throw new MbError(
        "FRAME_MALFORMED",
        `Cannot connect to ${server.href}: expected an info frame, got type ${frame.type}`,
      );
    }
    if (frame.version !== PROTOCOL_VERSION) {
      throw new MbError(
        "PROTOCOL_VERSION",
        `Cannot connect to ${server.href}: server speaks version ${frame.version}`,
      );
    }
    return { server, transport, writer, reader, info: frame.info };
  } catch (error) {
    try {
      transport?.close();
    } catch {
      // Already closed.
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function asCode(code: string): MbErrorCode {
  return isMbErrorCode(code) ? code : "INTERNAL";
}

function randomId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  let id = "";
  for (const byte of bytes) id += byte.toString(36).padStart(2, "0");
  return id;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
