// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { toUtf8, writeU64 } from "../protocol/_bytes.ts";
import { quote } from "../protocol/_text.ts";
import {
  type AckFrame,
  type CommandFrame,
  encodeMessageSection,
  type ErrorFrame,
  type FetchFrame,
  type Frame,
  FrameBatch,
  FrameChunkDecoder,
  FrameType,
  MbError,
  type MbErrorCode,
  patternProblem,
  PROTOCOL_VERSION,
  type PublishFrame,
  type QueueConsumeFrame,
  queueGroupProblem,
  type QueueSendFrame,
  type ServerInfo,
  type StreamSubscribeFrame,
  type SubscribeFrame,
  topicProblem,
} from "../protocol/mod.ts";
import { publishMessage, publishProblem, PublishResult } from "./publish.ts";
import type { Route, Router, Subscriber } from "./router.ts";
import type { DurableStore } from "./store/durable_store.ts";
import type { QueueConsumer } from "./store/queue.ts";
import type { DurableSink } from "./store/sink.ts";
import type { StreamReader } from "./store/stream.ts";

const logger = getLogger(["mb", "session"]);

/** The byte streams of one client connection, whatever its transport. */
export interface SessionConn {
  /** Bytes from the client. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the client. */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes the connection at once. */
  close(): void;
}

/** What a slow consumer gets when its outbound buffer is full. */
export type SlowConsumerPolicy = "drop" | "disconnect";

/** Limits and behaviour of a session; the broker fills them from its options. */
export interface SessionOptions {
  /** Largest frame accepted. */
  maxFrameBytes: number;
  /** Largest publish payload accepted. */
  maxPayloadBytes: number;
  /** Most subscriptions on one connection. */
  maxSubscriptions: number;
  /** Outbound bytes buffered for a client before the slow-consumer policy. */
  maxPendingBytes: number;
  /** What happens to a slow consumer. */
  slowConsumer: SlowConsumerPolicy;
  /** Time a client has to send its hello frame. */
  handshakeTimeoutMs: number;
  /** Token a client must present, if any. */
  token: string | undefined;
  /** Fills in the info frame for this connection. */
  info(clientId: number): ServerInfo;
  /** A label for logs, such as the remote address. */
  label: string;
}

/** Counters of one session. */
export interface SessionStats {
  /** Messages published by this client. */
  messagesIn: number;
  /** Messages delivered to this client. */
  messagesOut: number;
  /** Deliveries dropped by the slow-consumer policy. */
  dropped: number;
  /** Subscriptions held. */
  subscriptions: number;
  /** Outbound bytes queued or being written to this client. */
  pendingBytes: number;
}

/**
 * One client connection: decodes frames, performs the handshake, turns
 * frames into router calls, and writes deliveries through a bounded,
 * coalescing outbound batch (one write in flight; frames queued meanwhile go
 * out together in the next write).
 */
export class Session implements Subscriber, DurableSink {
  /** Id of this connection, unique in the broker. */
  readonly id: number;
  #conn: SessionConn;
  #router: Router;
  #store: DurableStore;
  #readers = new Map<number, StreamReader>();
  #consumers = new Map<number, QueueConsumer>();
  #writableWaiters: (() => void)[] = [];
  #options: SessionOptions;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #batch = new FrameBatch();
  #writing = false;
  #scheduled = false;
  #inFlightBytes = 0;
  #routes = new Map<number, Route>();
  #handshaken = false;
  #closed = false;
  #closing = false;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #flushWaiters: (() => void)[] = [];
  #done: Promise<void>;
  #messagesIn = 0;
  #messagesOut = 0;
  #dropped = 0;
  /** Frames received since the keepalive check last looked. */
  activity = 0;
  /** Pings sent without a frame received since. */
  pingsOut = 0;

  /**
   * Starts serving a connection.
   *
   * @param id The connection id.
   * @param conn The connection's streams.
   * @param router The routing core.
   * @param store Streams and queues.
   * @param options Limits.
   */
  constructor(
    id: number,
    conn: SessionConn,
    router: Router,
    store: DurableStore,
    options: SessionOptions,
  ) {
    this.id = id;
    this.#conn = conn;
    this.#router = router;
    this.#store = store;
    this.#options = options;
    this.#writer = conn.writable.getWriter();
    this.#writer.closed.catch(() => this.#close());
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = undefined;
      if (!this.#handshaken) {
        this.fail(
          "HANDSHAKE_TIMEOUT",
          `No hello frame within ${options.handshakeTimeoutMs} ms`,
        );
      }
    }, options.handshakeTimeoutMs);
    this.#done = this.#readLoop();
  }

  /** Resolves when the connection is closed and cleaned up. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Whether the client finished its handshake. */
  get handshaken(): boolean {
    return this.#handshaken;
  }

  /** This session's counters. */
  stats(): SessionStats {
    return {
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      dropped: this.#dropped,
      subscriptions: this.#sidCount,
      pendingBytes: this.#pendingBytes(),
    };
  }

  /** Queues a delivery; applies the slow-consumer policy when full. */
  deliver(sid: number, message: Uint8Array): void {
    if (this.#closing) return;
    const size = 9 + message.length;
    if (this.#pendingBytes() + size > this.#options.maxPendingBytes) {
      this.#slowConsumer();
      return;
    }
    this.#messagesOut++;
    this.#batch.appendDeliver(sid, message);
    this.#schedule();
  }

  /** Whether the connection is closing: durable deliveries are refused. */
  get closed(): boolean {
    return this.#closing;
  }

  /** Whether the outbound buffer is at its limit (queues then wait for `onWritable`). */
  get full(): boolean {
    return this.#pendingBytes() >= this.#options.maxPendingBytes;
  }

  /** Queues a stream message unless the outbound buffer is full. */
  streamDeliver(sid: number, offset: number, timestamp: number, message: Uint8Array): boolean {
    if (this.#closing) return false;
    const pending = this.#pendingBytes();
    // The limit is on the backlog: a message alone always goes out.
    if (pending > 0 && pending + 25 + message.length > this.#options.maxPendingBytes) return false;
    this.#messagesOut++;
    this.#batch.appendStreamDeliver(sid, offset, timestamp, message);
    this.#schedule();
    return true;
  }

  /** Queues a queue message (prefetch bounds how many). */
  queueDeliver(
    sid: number,
    messageId: number,
    deliveryCount: number,
    timestamp: number,
    message: Uint8Array,
  ): void {
    if (this.#closing) return;
    this.#messagesOut++;
    this.#batch.appendQueueDeliver(sid, messageId, deliveryCount, timestamp, message);
    this.#schedule();
  }

  /** Calls `wake` once the outbound buffer is below half its limit, or closed. */
  onWritable(wake: () => void): void {
    if (this.#closed || this.#pendingBytes() < this.#options.maxPendingBytes / 2) {
      queueMicrotask(wake);
      return;
    }
    this.#writableWaiters.push(wake);
    this.#schedule();
  }

  /** Sends a ping for the keepalive check. */
  ping(): void {
    this.pingsOut++;
    this.#send({ type: FrameType.Ping });
  }

  /**
   * Sends an error frame for the whole connection, then closes it.
   *
   * @param code The error code.
   * @param message What happened.
   */
  fail(code: MbErrorCode, message: string): void {
    if (this.#closing) return;
    logger.info("Closing connection {id} ({label}): {code} {message}", {
      id: this.id,
      label: this.#options.label,
      code,
      message,
    });
    this.#send({ type: FrameType.Error, requestId: 0, code, message });
    void this.#closeAfterFlush();
  }

  /**
   * Says goodbye (the server is going away), flushes, and closes.
   *
   * @param reason Why.
   * @param timeoutMs How long to wait for the flush.
   */
  async goodbye(reason: string, timeoutMs: number): Promise<void> {
    if (this.#closing) return this.#done;
    this.#send({ type: FrameType.Goodbye, reason });
    await this.#closeAfterFlush(timeoutMs);
    return this.#done;
  }

  async #readLoop(): Promise<void> {
    // preventCancel: a decoding error must not close the socket before the
    // error frame is written.
    // One array of frames per chunk read: one promise per chunk, not per frame.
    const chunks = this.#conn.readable.pipeThrough(
      new FrameChunkDecoder({ maxFrameBytes: this.#options.maxFrameBytes }),
      { preventCancel: true },
    );
    try {
      for await (const frames of chunks) {
        if (this.#closing) break;
        this.activity++;
        this.pingsOut = 0;
        for (let i = 0; i < frames.length && !this.#closing; i++) this.#handle(frames[i]);
        // Answers (ok, error, pong) are never dropped, so bound them by
        // reading no further until the client has taken what it was sent.
        if (this.#pendingBytes() > this.#options.maxPendingBytes) {
          await this.#whenFlushed();
        }
        // Publishers wait while the store is behind on writing what they sent.
        if (this.#store.backlogged) await this.#store.whenStored();
      }
    } catch (error) {
      if (error instanceof MbError && !this.#closing) {
        this.fail(error.code, error.message);
      }
    } finally {
      if (!this.#closing) void this.#closeAfterFlush();
      await this.#closedPromise;
    }
  }

  #handle(frame: Frame): void {
    if (!this.#handshaken) {
      if (frame.type !== FrameType.Hello) {
        this.fail("HANDSHAKE_REQUIRED", `Expected a hello frame, got frame type ${frame.type}`);
        return;
      }
      if (frame.version !== PROTOCOL_VERSION) {
        this.fail(
          "PROTOCOL_VERSION",
          `Unsupported protocol version ${frame.version}: this server speaks ${PROTOCOL_VERSION}`,
        );
        return;
      }
      const token = this.#options.token;
      if (token !== undefined && !sameText(frame.hello.token ?? "", token)) {
        this.fail("AUTH_FAILED", "Authentication failed: wrong or missing token");
        return;
      }
      this.#handshaken = true;
      clearTimeout(this.#handshakeTimer);
      this.#send({
        type: FrameType.Info,
        version: PROTOCOL_VERSION,
        info: this.#options.info(this.id),
      });
      logger.debug("Connection {id} ({label}) handshaken as {name}", {
        id: this.id,
        label: this.#options.label,
        name: frame.hello.name ?? "",
      });
      return;
    }
    switch (frame.type) {
      case FrameType.Publish:
        this.#publish(frame);
        return;
      case FrameType.Subscribe:
        this.#subscribe(frame);
        return;
      case FrameType.Unsubscribe:
        if (this.#unsubscribe(frame.sid)) this.#ok(frame.requestId);
        else {
          this.#reject(
            frame.requestId,
            "SUBSCRIPTION_UNKNOWN",
            `Unknown subscription ${frame.sid}`,
          );
        }
        return;
      case FrameType.Command:
        this.#command(frame);
        return;
      case FrameType.StreamSubscribe:
        this.#streamSubscribe(frame);
        return;
      case FrameType.Credit:
        // Credit for a reader that just ended is not an error.
        try {
          this.#readers.get(frame.sid)?.addCredit(frame.credit);
        } catch (error) {
          this.#rejectWith(0, error);
        }
        return;
      case FrameType.QueueConsume:
        this.#consume(frame);
        return;
      case FrameType.Fetch:
        this.#fetch(frame);
        return;
      case FrameType.Ack:
        this.#settle(frame);
        return;
      case FrameType.QueueSend:
        this.#queueSend(frame);
        return;
      case FrameType.Ping:
        this.#send({ type: FrameType.Pong });
        return;
      case FrameType.Pong:
        return;
      case FrameType.Goodbye:
        void this.#closeAfterFlush();
        return;
      case FrameType.Hello:
        this.fail("HANDSHAKE_REQUIRED", "Cannot handshake twice on one connection");
        return;
      default:
        this.fail("FRAME_UNKNOWN", `Frame type ${frame.type} is not sent by clients`);
    }
  }

  #publish(frame: PublishFrame): void {
    const topic = frame.topic;
    const requestId = frame.requestId;
    const problem = publishProblem(
      topic,
      frame.replyTo,
      frame.payload.length,
      this.#options.maxPayloadBytes,
    );
    if (problem !== undefined) {
      this.#reject(requestId, problem.code, problem.message);
      return;
    }
    this.#messagesIn++;
    const message = frame.message!;
    if (requestId === 0) {
      publishMessage(this.#router, this.#store, topic, message);
      return;
    }
    // A confirmed publish reaches MQTT subscribers at QoS 1.
    const result = publishMessage(this.#router, this.#store, topic, message, (error, result) => {
      if (error !== undefined) this.#reject(requestId, error.code, error.message);
      else this.#send({ type: FrameType.Ok, requestId, result });
    }, 1);
    if ((result & PublishResult.Captured) === 0) {
      if ((result & PublishResult.Delivered) === 0 && frame.replyTo !== "") {
        this.#reject(requestId, "NO_RESPONDERS", `No subscribers for ${quote(topic)}`);
      } else this.#ok(requestId);
    }
  }

  #subscribe(frame: SubscribeFrame): void {
    const { requestId, sid, pattern, queue } = frame;
    const problem = patternProblem(pattern);
    if (problem !== undefined) {
      this.#reject(requestId, "TOPIC_INVALID", `Cannot subscribe to ${quote(pattern)}: ${problem}`);
      return;
    }
    const badQueue = queueGroupProblem(queue);
    if (badQueue !== undefined) {
      this.#reject(
        requestId,
        "INVALID_ARGUMENT",
        `Invalid queue group ${quote(queue)}: ${badQueue}`,
      );
      return;
    }
    if (!this.#sidAvailable(requestId, sid)) return;
    const route: Route = { sid, pattern, queue, subscriber: this };
    this.#routes.set(sid, route);
    this.#router.add(route);
    this.#ok(requestId);
  }

  /** Checks that a new subscription, reader or consumer may take `sid`; rejects if not. */
  #sidAvailable(requestId: number, sid: number): boolean {
    if (this.#routes.has(sid) || this.#readers.has(sid) || this.#consumers.has(sid)) {
      this.#reject(requestId, "INVALID_ARGUMENT", `Subscription id ${sid} is already in use`);
      return false;
    }
    if (this.#sidCount >= this.#options.maxSubscriptions) {
      this.#reject(
        requestId,
        "SUBSCRIPTION_LIMIT",
        `Cannot subscribe: the limit of ${this.#options.maxSubscriptions} subscriptions per connection is reached`,
      );
      return false;
    }
    return true;
  }

  get #sidCount(): number {
    return this.#routes.size + this.#readers.size + this.#consumers.size;
  }

  #unsubscribe(sid: number): boolean {
    const route = this.#routes.get(sid);
    if (route !== undefined) {
      this.#routes.delete(sid);
      this.#router.remove(route);
      return true;
    }
    const reader = this.#readers.get(sid);
    if (reader !== undefined) {
      this.#readers.delete(sid);
      reader.close();
      return true;
    }
    const consumer = this.#consumers.get(sid);
    if (consumer !== undefined) {
      this.#consumers.delete(sid);
      consumer.close();
      return true;
    }
    return false;
  }

  #command(frame: CommandFrame): void {
    const { requestId } = frame;
    this.#answer(requestId, async () => {
      const result = await this.#store.command(frame.op, frame.args);
      return toUtf8(JSON.stringify(result ?? null));
    });
  }

  #streamSubscribe(frame: StreamSubscribeFrame): void {
    const { requestId, sid } = frame;
    if (!this.#sidAvailable(requestId, sid)) return;
    try {
      const reader = this.#store.subscribe(
        this,
        sid,
        frame.stream,
        frame.pattern,
        frame.start,
        frame.credit,
      );
      this.#readers.set(sid, reader);
      if (requestId !== 0) {
        // The offset the reader starts at, so a client can resume from it.
        const result = new Uint8Array(8);
        writeU64(result, 0, reader.nextOffset);
        this.#send({ type: FrameType.Ok, requestId, result });
      }
    } catch (error) {
      this.#rejectWith(requestId, error);
    }
  }

  #consume(frame: QueueConsumeFrame): void {
    const { requestId, sid } = frame;
    if (!this.#sidAvailable(requestId, sid)) return;
    try {
      this.#consumers.set(sid, this.#store.consume(this, sid, frame.queue, frame.prefetch));
      this.#ok(requestId);
    } catch (error) {
      this.#rejectWith(requestId, error);
    }
  }

  #fetch(frame: FetchFrame): void {
    this.#answer(frame.requestId, async () => {
      await this.#store.fetch(this, frame.sid, frame.queue, frame.max, frame.waitMs);
      return EMPTY;
    });
  }

  #settle(frame: AckFrame): void {
    this.#answer(frame.requestId, async () => {
      await this.#store.settle(this, frame.queue, frame.messageId, frame.action, frame.delayMs);
      return EMPTY;
    });
  }

  #queueSend(frame: QueueSendFrame): void {
    const { requestId } = frame;
    const topic = frame.topic === "" ? frame.queue : frame.topic;
    const problem = frame.topic === "" ? undefined : topicProblem(topic);
    if (problem !== undefined) {
      this.#reject(
        requestId,
        "TOPIC_INVALID",
        `Cannot send with topic ${quote(topic)}: ${problem}`,
      );
      return;
    }
    if (frame.payload.length > this.#options.maxPayloadBytes) {
      this.#reject(
        requestId,
        "PAYLOAD_TOO_LARGE",
        `Cannot send ${frame.payload.length} bytes: the limit is ${this.#options.maxPayloadBytes}`,
      );
      return;
    }
    try {
      const message = encodeMessageSection(topic, frame.replyTo, frame.headers, frame.payload);
      this.#messagesIn++;
      this.#store.send(frame.queue, message, (error, id) => {
        if (requestId === 0) return;
        if (error !== undefined) {
          this.#reject(requestId, error.code, error.message);
          return;
        }
        const result = new Uint8Array(8);
        writeU64(result, 0, id);
        this.#send({ type: FrameType.Ok, requestId, result });
      });
    } catch (error) {
      this.#rejectWith(requestId, error);
    }
  }

  /** Runs an asynchronous request and answers it with its result or its error. */
  #answer(requestId: number, run: () => Promise<Uint8Array>): void {
    let promise: Promise<Uint8Array>;
    try {
      promise = run();
    } catch (error) {
      this.#rejectWith(requestId, error);
      return;
    }
    promise.then(
      (result) => {
        if (requestId !== 0) this.#send({ type: FrameType.Ok, requestId, result });
      },
      (error) => this.#rejectWith(requestId, error),
    );
  }

  #rejectWith(requestId: number, error: unknown): void {
    if (error instanceof MbError) {
      this.#reject(requestId, error.code, error.message);
      return;
    }
    logger.error("Request {requestId} on connection {id} failed: {error}", {
      requestId,
      id: this.id,
      error,
    });
    this.#reject(requestId, "INTERNAL", `Internal error: ${error}`);
  }

  #pendingBytes(): number {
    return this.#batch.byteLength + this.#inFlightBytes;
  }

  #ok(requestId: number): void {
    if (requestId !== 0) this.#send({ type: FrameType.Ok, requestId, result: EMPTY });
  }

  /** Answers a failed request; without a request id the error is still sent. */
  #reject(requestId: number, code: MbErrorCode, message: string): void {
    const frame: ErrorFrame = { type: FrameType.Error, requestId, code, message };
    this.#send(frame);
  }

  #send(frame: Frame): void {
    if (this.#closed) return;
    this.#batch.append(frame);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#batch.byteLength > 0 && !this.#closed) {
        const bytes = this.#batch.take();
        this.#inFlightBytes = bytes.length;
        await this.#writer.write(bytes);
        this.#inFlightBytes = 0;
      }
    } catch {
      this.#close();
    } finally {
      this.#writing = false;
      this.#inFlightBytes = 0;
      const waiters = this.#flushWaiters;
      this.#flushWaiters = [];
      for (const wake of waiters) wake();
      this.#wakeWritable();
    }
  }

  #wakeWritable(): void {
    if (this.#writableWaiters.length === 0) return;
    if (!this.#closed && this.#pendingBytes() >= this.#options.maxPendingBytes / 2) return;
    const waiters = this.#writableWaiters;
    this.#writableWaiters = [];
    for (const wake of waiters) wake();
  }

  #slowConsumer(): void {
    if (this.#options.slowConsumer === "drop") {
      if (this.#dropped === 0) {
        logger.warn("Connection {id} ({label}) is a slow consumer: dropping messages", {
          id: this.id,
          label: this.#options.label,
        });
      }
      this.#dropped++;
      return;
    }
    this.#dropped++;
    // The client is not reading: drop what is queued so the error is next.
    this.#batch.clear();
    this.fail(
      "SLOW_CONSUMER",
      `Slow consumer: more than ${this.#options.maxPendingBytes} bytes waiting to be sent`,
    );
  }

  /** Resolves when everything queued has been written (or the connection closed). */
  #whenFlushed(): Promise<void> {
    if (this.#closed || (!this.#writing && this.#batch.byteLength === 0)) {
      return Promise.resolve();
    }
    this.#schedule();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  async #closeAfterFlush(timeoutMs = 2000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#unroute();
    if (this.#writing || this.#scheduled || this.#batch.byteLength > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#flushWaiters.push(resolve)),
        new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
      ]);
      clearTimeout(timer);
    }
    this.#close();
  }

  #closedResolve!: () => void;
  #closedPromise = new Promise<void>((resolve) => this.#closedResolve = resolve);

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    clearTimeout(this.#handshakeTimer);
    this.#unroute();
    this.#batch.clear();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const wake of waiters) wake();
    this.#wakeWritable();
    this.#closedResolve();
  }

  #unroute(): void {
    for (const route of this.#routes.values()) this.#router.remove(route);
    this.#routes.clear();
    for (const reader of this.#readers.values()) reader.close();
    this.#readers.clear();
    for (const consumer of this.#consumers.values()) consumer.close();
    this.#consumers.clear();
    this.#store.detach(this);
  }
}

const EMPTY = new Uint8Array(0);

/** Compares two strings in time that depends only on their lengths. */
function sameText(given: string, expected: string): boolean {
  let difference = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    difference |= (given.charCodeAt(i) | 0) ^ expected.charCodeAt(i);
  }
  return difference === 0;
}
