// Copyright mb authors. MIT license.
// This module is browser compatible.

import { readU32, readU64, utf8Length, writeUtf8 } from "../protocol/_bytes.ts";
import { decodeStoredResult } from "../protocol/durable.ts";
import { isConnectionFatal, MbError } from "../protocol/errors.ts";
import { FrameBatch } from "../protocol/frame_batch.ts";
import {
  type AckAction,
  type DeliverFrame,
  type Frame,
  FrameType,
  type ServerInfo,
  type StreamDeliverFrame,
} from "../protocol/frames.ts";
import { encodeHeaders } from "../protocol/headers.ts";
import { patternProblem, queueGroupProblem, topicProblem } from "../protocol/topic.ts";
import type { DurableCore, JobReceiver } from "./_durable.ts";
import { asErrorCode, type OpenConnection, openConnection } from "./handshake.ts";
import type { JobSettler } from "./job.ts";
import { Message } from "./message.ts";
import type { ConnectOptions, PublishOptions, RequestOptions } from "./options.ts";
import { Queues } from "./queues.ts";
import { RequestMux } from "./request_mux.ts";
import { Streams } from "./streams.ts";
import { type SubscribeOptions, Subscription } from "./subscription.ts";
import type { Transport, TransportFactory } from "./transport.ts";

interface Pending {
  /** Sequence number of the frame that asked; see `#sentSeq`. */
  seq: number;
  /** Called with the ok frame's result. */
  resolve(result: Uint8Array): void;
  reject(error: Error): void;
}

/** Outbound bytes beyond which `publish` asks callers to wait. */
const HIGH_WATER_BYTES = 1024 * 1024;
const FLUSH_THRESHOLD_BYTES = 64 * 1024;
const RESOLVED: Promise<undefined> = Promise.resolve(undefined);
const MAX_PINGS_OUT = 2;

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
 * flight. Subscriptions are async iterables, or take a callback. Brokers
 * with a store also keep streams ({@linkcode Client.streams}, read with
 * `subscribe(pattern, { stream })`) and work queues
 * ({@linkcode Client.queues}).
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
  /** The writer whose write loop is running, if any. */
  #writingTo: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #flushing: Promise<void> = RESOLVED;
  #scheduled = false;
  #drainWaiters: ((value: undefined) => void)[] = [];
  #subs = new Map<number, Subscription>();
  /** Queue consumers and fetches, by sid (shared with `#subs`). */
  #receivers = new Map<number, JobReceiver>();
  #nextSid = 1;
  #nextRequestId = 1;
  #pending = new Map<number, Pending>();
  #pongWaiters: Pending[] = [];
  #seq = 0;
  #sentSeq = 0;
  #requests = new RequestMux();
  #inboxSub: Subscription | undefined;
  #state: "connected" | "reconnecting" | "closing" | "closed" = "connected";
  #closedResolve!: (error: MbError | undefined) => void;
  #closed: Promise<MbError | undefined>;
  #keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  #activity = 0;
  #pingsOut = 0;
  #readLoop: Promise<void> = RESOLVED;
  #reconnectAbort = new AbortController();
  /** Counts connections, so that jobs of a lost one are not settled on the next. */
  #connection = 0;
  #connectionSettler!: JobSettler;

  /**
   * Stream administration: create, inspect, list, purge and delete streams.
   * Read a stream with `subscribe(pattern, { stream, from })`.
   */
  readonly streams: Streams;
  /** Work queues: declare, send, consume, fetch, inspect, purge, delete. */
  readonly queues: Queues;

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
    this.#closed = new Promise((resolve) => this.#closedResolve = resolve);
    this.#attach(opened);
    this.streams = new Streams(this.#core);
    this.queues = new Queues(this.#core);
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
   * Publishes a message. Without `confirm`, the returned promise resolves
   * (with `undefined`) at once unless the outbound buffer is full, in which
   * case it resolves when there is room again: awaiting it in a loop applies
   * backpressure. With `confirm`, it resolves once the broker accepted the
   * message: with the offset a stream stored it at (once stored as the
   * broker's fsync policy says), or `undefined` when no stream takes the
   * topic.
   *
   * @param topic The topic; no wildcards.
   * @param data The payload: text (sent as UTF-8) or bytes.
   * @param options Headers, reply-to, confirmation.
   * @returns Resolves as described above.
   * @throws {MbError} `TOPIC_INVALID`, `PAYLOAD_TOO_LARGE`, `HEADERS_INVALID`,
   * `STORAGE_FULL` or `STORAGE_FAILED` (with `confirm`), or
   * `CONNECTION_CLOSED` (as a rejection).
   *
   * @example
   * ```ts ignore
   * await mb.publish("sensors/kitchen", "22.5");
   * const offset = await mb.publish("orders/new", JSON.stringify(order), { confirm: true });
   * ```
   */
  publish(
    topic: string,
    data: string | Uint8Array,
    options?: PublishOptions,
  ): Promise<number | undefined> {
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
      if (confirm) {
        // Registered before the frame is appended: see #await.
        const requestId = this.#nextId();
        const confirmed = this.#await(requestId);
        try {
          this.#appendPublish(requestId, topic, replyTo, headers, data);
        } catch (error) {
          this.#pending.delete(requestId);
          throw error;
        }
        return confirmed.then(storedOffset);
      }
      this.#appendPublish(0, topic, replyTo, headers, data);
      if (this.#batch.byteLength >= HIGH_WATER_BYTES && this.#state === "connected") {
        return new Promise((resolve) => this.#drainWaiters.push(resolve));
      }
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Subscribes to a pattern (`+` one level, `#` the rest). With `stream`,
   * reads that stream instead: its stored messages matching the pattern
   * from `from` on, then new ones as they are stored, each with its
   * `offset`; the broker sends at most `credit` messages ahead of the
   * application, and after a reconnect the reader resumes after the last
   * message it received.
   *
   * @param pattern The pattern (for a stream reader, `""` matches all too).
   * @param options Queue group, callback, limits, stream and start.
   * @returns The subscription, iterable at once; the server applies it
   * before any later publish on this connection. Its iteration (and
   * `ready`) fails when the broker refuses it: `STREAM_UNKNOWN`,
   * `OFFSET_OUT_OF_RANGE`, `SUBSCRIPTION_LIMIT`.
   * @throws {MbError} `TOPIC_INVALID` for a bad pattern, `INVALID_ARGUMENT`
   * for a bad queue group, a `max` below 1, a bad stream name, `from` or
   * `credit`, or a stream on a broker without a store; `CONNECTION_CLOSED`
   * after close.
   *
   * @example
   * ```ts ignore
   * const sub = mb.subscribe("jobs/#", { queue: "workers" });
   * for await (const job of sub) await handle(job);
   * ```
   *
   * @example Read a stream from offset 100
   * ```ts ignore
   * const sub = mb.subscribe("orders/#", { stream: "orders", from: 100 });
   * for await (const msg of sub) console.log(msg.offset, msg.text());
   * ```
   */
  subscribe(pattern: string, options?: SubscribeOptions): Subscription {
    const isStream = options?.stream !== undefined;
    const problem = isStream && pattern === "" ? undefined : patternProblem(pattern);
    if (problem !== undefined) {
      throw new MbError(
        "TOPIC_INVALID",
        `Cannot subscribe to ${JSON.stringify(pattern)}: ${problem}`,
      );
    }
    const queue = options?.queue ?? "";
    const queueProblem = queueGroupProblem(queue);
    if (queueProblem !== undefined) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Invalid queue group ${JSON.stringify(queue)}: ${queueProblem}`,
      );
    }
    this.#assertOpen();
    const sub = new Subscription(this.#owner, this.#freeSid(), pattern, options);
    if (isStream) this.#assertDurable(`read stream ${JSON.stringify(sub.stream)}`);
    this.#subs.set(sub.sid, sub);
    this.#nextSid = sub.sid >= 0xffffffff ? 1 : sub.sid + 1;
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
    // Made again if the broker refused it (a subscription limit, say).
    if (this.#inboxSub === undefined || this.#inboxSub.ended) {
      this.#inboxSub = this.subscribe(this.#requests.pattern, {
        callback: (message) => this.#requests.handle(message),
      });
    }
    const { replyTo, reply, fail } = this.#requests.start(topic, options);
    this.publish(topic, data, { headers: options?.headers, replyTo, confirm: true }).catch(fail);
    return reply;
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
      this.#pongWaiters.push({ seq: ++this.#seq, resolve: () => resolve(), reject });
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
    // Disconnected: nothing can be flushed to the server, so just close.
    if (this.#state === "reconnecting") return await this.close();
    const subs = [...this.#subs.values()];
    const unsubscribed = subs.map((sub) => sub.unsubscribe().catch(() => {}));
    for (const receiver of [...this.#receivers.values()]) {
      if (receiver.close !== undefined) unsubscribed.push(receiver.close().catch(() => {}));
    }
    await Promise.all(unsubscribed);
    // Lost the connection meanwhile: nothing more can be flushed.
    if (this.#state !== "connected") return await this.close();
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
    reportError: (error: Error): void => {
      if (this.#options.onStatus !== undefined) this.#options.onStatus({ type: "error", error });
      else console.error("mb: a subscription callback threw:", error);
    },
    unsubscribe: (sid: number): Promise<void> => {
      if (!this.#subs.delete(sid) && !this.#receivers.delete(sid)) return RESOLVED;
      if (this.#state !== "connected") return RESOLVED;
      const requestId = this.#nextId();
      const done = this.#await(requestId);
      this.#append({ type: FrameType.Unsubscribe, requestId, sid });
      return done.then(ignore, (error) => {
        if (error instanceof MbError && error.code === "CONNECTION_CLOSED") return;
        throw error;
      });
    },
    credit: (sid: number, credit: number): void => {
      // Disconnected: the reader asks for its credit again when restored.
      if (this.#state !== "connected") return;
      this.#append({ type: FrameType.Credit, sid, credit });
    },
  };

  // The stream and queue APIs' view of the client.
  #core: DurableCore = {
    connectionSettler: (): JobSettler => this.#connectionSettler,
    payloadLimit: (): number | undefined => this.#info?.maxPayloadBytes,
    assertDurable: (action: string): void => this.#assertDurable(action),
    request: (build: (requestId: number) => Frame): Promise<Uint8Array> => {
      try {
        this.#assertOpen();
        const requestId = this.#nextId();
        const answered = this.#await(requestId);
        try {
          this.#append(build(requestId));
        } catch (error) {
          this.#pending.delete(requestId);
          throw error;
        }
        return answered;
      } catch (error) {
        return Promise.reject(error);
      }
    },
    attach: (receiver: JobReceiver): number => {
      const sid = this.#freeSid();
      this.#nextSid = sid >= 0xffffffff ? 1 : sid + 1;
      this.#receivers.set(sid, receiver);
      return sid;
    },
    detach: (sid: number): void => void this.#receivers.delete(sid),
    unsubscribe: (sid: number): Promise<void> => this.#owner.unsubscribe(sid),
    settle: (queue: string, messageId: number, action: AckAction, delayMs: number) =>
      this.#core.request((requestId) => ({
        type: FrameType.Ack,
        requestId,
        queue,
        messageId,
        action,
        delayMs,
      })).then(ignore),
    publish: (topic, data, options) => this.publish(topic, data, options),
  };

  #sendSubscribe(sub: Subscription): void {
    const requestId = this.#nextId();
    // Settled as the answer is dispatched, before the deliveries after it.
    this.#pending.set(requestId, {
      seq: ++this.#seq,
      resolve: (result) => sub.confirmed(result.length >= 8 ? readU64(result, 0) : undefined),
      reject: (error) => {
        if (error instanceof MbError && error.code === "CONNECTION_CLOSED") return;
        this.#subs.delete(sub.sid);
        sub.end(error instanceof MbError ? error : new MbError("INTERNAL", String(error)));
      },
    });
    if (sub.stream === "") {
      this.#append({
        type: FrameType.Subscribe,
        requestId,
        sid: sub.sid,
        pattern: sub.pattern,
        queue: sub.queue,
      });
    } else {
      this.#append({
        type: FrameType.StreamSubscribe,
        requestId,
        sid: sub.sid,
        stream: sub.stream,
        pattern: sub.pattern,
        start: sub.resumeFrom(),
        credit: sub.initialCredit(),
      });
    }
  }

  /** A sid no subscription, consumer or fetch uses. */
  #freeSid(): number {
    let sid = this.#nextSid;
    while (this.#subs.has(sid) || this.#receivers.has(sid)) {
      sid = sid >= 0xffffffff ? 1 : sid + 1;
    }
    return sid;
  }

  /**
   * Registers the answer to a request. Call it before appending the frame:
   * an append can start a write at once (past 64 KiB), and the sequence
   * number must say the frame was in that write.
   */
  #await(requestId: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { seq: ++this.#seq, resolve, reject });
    });
  }

  /** The next request id: never 0, wraps within 32 bits. */
  #nextId(): number {
    const id = this.#nextRequestId;
    this.#nextRequestId = id >= 0xffffffff ? 1 : id + 1;
    return id;
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

  /** Whether a write loop runs for the current connection. */
  get #writing(): boolean {
    return this.#writingTo !== undefined && this.#writingTo === this.#writer;
  }

  #flushNow(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return this.#flushing;
    const writer = this.#writer;
    if (writer === undefined) return RESOLVED;
    this.#writingTo = writer;
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
      // A loop left over from a lost connection must not clear the flag of
      // the loop that now writes to the new one.
      if (this.#writingTo === writer) this.#writingTo = undefined;
    }
    this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake(undefined);
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
    const connection = ++this.#connection;
    this.#connectionSettler = {
      settle: (queue, messageId, action, delayMs) =>
        connection === this.#connection
          ? this.#core.settle(queue, messageId, action, delayMs)
          : Promise.reject(
            new MbError(
              "MESSAGE_UNKNOWN",
              `Cannot settle message ${messageId} of queue ${
                JSON.stringify(queue)
              }: it was received on a connection that was lost, and the broker delivers it again`,
            ),
          ),
    };
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
      let frames = opened.pending;
      while (true) {
        for (let i = 0; i < frames.length; i++) this.#dispatch(frames[i]);
        const { value, done } = await opened.reader.read();
        if (done) break;
        this.#activity++;
        this.#pingsOut = 0;
        frames = value;
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
      case FrameType.StreamDeliver: {
        const sub = this.#subs.get(frame.sid);
        if (sub !== undefined) sub.pushStream(this.#streamMessage(frame));
        return;
      }
      case FrameType.QueueDeliver: {
        const receiver = this.#receivers.get(frame.sid);
        if (receiver !== undefined) receiver.deliver(frame);
        return;
      }
      case FrameType.Ok: {
        const pending = this.#pending.get(frame.requestId);
        if (pending !== undefined) {
          this.#pending.delete(frame.requestId);
          pending.resolve(frame.result);
        }
        return;
      }
      case FrameType.Error: {
        const error = new MbError(asErrorCode(frame.code), frame.message);
        if (frame.requestId !== 0) {
          const pending = this.#pending.get(frame.requestId);
          if (pending !== undefined) {
            this.#pending.delete(frame.requestId);
            pending.reject(error);
          }
          return;
        }
        // A request sent without an id was refused, or (for the codes in
        // isConnectionFatal) the server is about to close the connection.
        if (isConnectionFatal(error.code)) this.#connectionError = error;
        this.#options.onStatus?.({ type: "error", error });
        return;
      }
      case FrameType.Ping:
        this.#append({ type: FrameType.Pong });
        return;
      case FrameType.Pong:
        this.#pongWaiters.shift()?.resolve(EMPTY);
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
    // A small message must not pin the whole read buffer it arrived in
    // while it waits in a subscription's queue: copy it out.
    let payload = frame.payload;
    let headers = frame.headers;
    if (payload.buffer.byteLength > 8 * (payload.length + 256)) {
      payload = payload.slice();
      headers = headers?.slice();
    }
    return new Message(frame.topic, payload, {
      replyTo: frame.replyTo,
      headerBlock: headers,
      responder: this,
    });
  }

  #streamMessage(frame: StreamDeliverFrame): Message {
    let payload = frame.payload;
    let headers = frame.headers;
    if (payload.buffer.byteLength > 8 * (payload.length + 256)) {
      payload = payload.slice();
      headers = headers?.slice();
    }
    return new Message(frame.topic, payload, {
      replyTo: frame.replyTo,
      headerBlock: headers,
      responder: this,
      offset: frame.offset,
      timestamp: frame.timestamp,
    });
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

  /**
   * Re-subscribes (stream readers after their last message) and restarts
   * queue consumers on a new connection, then sends what was buffered. A
   * broker without a store ends the stream readers and consumers.
   */
  #restore(opened: OpenConnection): void {
    const buffered = this.#batch.take();
    this.#state = "connected";
    this.#attach(opened);
    const durable = opened.info.store !== undefined;
    for (const sub of [...this.#subs.values()]) {
      if (sub.stream === "" || durable) this.#sendSubscribe(sub);
      else {
        this.#subs.delete(sub.sid);
        sub.end(this.#noStoreError(`read stream ${JSON.stringify(sub.stream)}`));
      }
    }
    for (const [sid, receiver] of [...this.#receivers]) {
      if (receiver.restart === undefined) continue;
      if (durable) receiver.restart();
      else {
        this.#receivers.delete(sid);
        receiver.end(this.#noStoreError("consume a queue"));
      }
    }
    this.#keepBuffered(buffered, durable);
    if (this.#batch.byteLength > 0 && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => void this.#flushNow());
    }
  }

  /**
   * Re-queues the frames that were buffered but never sent: publishes,
   * pings, commands, queue sends, acks and fetches go out on the new
   * connection (the durable ones fail with `INVALID_ARGUMENT` when the new
   * broker has no store); subscribe, consume and unsubscribe frames are
   * dropped (subscriptions are restored from the client's own state: their
   * new frames settle their `ready`), unsubscribes answered at once; credit
   * frames are dropped (readers ask for credit again).
   */
  #keepBuffered(bytes: Uint8Array, durable: boolean): void {
    let at = 0;
    while (at + 5 <= bytes.length) {
      const end = at + 4 + readU32(bytes, at);
      const type = bytes[at + 4];
      switch (type) {
        case FrameType.Publish:
        case FrameType.Ping:
          this.#batch.appendBytes(bytes.subarray(at, end));
          break;
        case FrameType.Command:
        case FrameType.QueueSend:
        case FrameType.Ack:
        case FrameType.Fetch: {
          if (durable) {
            this.#batch.appendBytes(bytes.subarray(at, end));
            break;
          }
          const requestId = readU32(bytes, at + 5);
          const pending = this.#pending.get(requestId);
          this.#pending.delete(requestId);
          pending?.reject(this.#noStoreError("finish a stream or queue operation"));
          break;
        }
        case FrameType.Subscribe:
        case FrameType.StreamSubscribe:
        case FrameType.QueueConsume:
          this.#pending.delete(readU32(bytes, at + 5));
          break;
        case FrameType.Unsubscribe: {
          const requestId = readU32(bytes, at + 5);
          this.#pending.get(requestId)?.resolve(EMPTY);
          this.#pending.delete(requestId);
          break;
        }
      }
      at = end;
    }
  }

  #detach(): void {
    const transport = this.#transport;
    this.#transport = undefined;
    this.#writer = undefined;
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
    this.#requests.rejectAll(closedError);
    for (const sub of this.#subs.values()) sub.end();
    this.#subs.clear();
    for (const receiver of this.#receivers.values()) receiver.end();
    this.#receivers.clear();
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
    this.#pongWaiters.push({ seq: ++this.#seq, resolve() {}, reject() {} });
    this.#append({ type: FrameType.Ping });
  }

  #assertOpen(): void {
    if (this.#state === "closed" || this.#state === "closing") {
      throw new MbError("CONNECTION_CLOSED", "The client is closed");
    }
  }

  /** Throws unless the broker serves streams and queues (and the client is open). */
  #assertDurable(action: string): void {
    this.#assertOpen();
    if (this.#info?.store === undefined) throw this.#noStoreError(action);
  }

  #noStoreError(action: string): MbError {
    return new MbError(
      "INVALID_ARGUMENT",
      `Cannot ${action}: the broker at ${this.#server.href} has no store ` +
        "(it serves no streams or queues)",
    );
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** The offset in a confirmed publish's result, if a stream stored it. */
function storedOffset(result: Uint8Array): number | undefined {
  return result.length === 0 ? undefined : decodeStoredResult(result)!.offset;
}

function ignore(): void {}

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
