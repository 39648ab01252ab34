// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { toUtf8 } from "../../protocol/_bytes.ts";
import type { Subscriber } from "../router.ts";
import type { SlowConsumerPolicy } from "../session.ts";
import type { DurableSink } from "../store/sink.ts";
import { addMessageJson, type PayloadEncoding } from "./_http_message.ts";

const logger = getLogger(["mb", "http"]);

/** Time a closing response gets to hand its last event to the client before it is aborted. */
const CLOSE_GRACE_MS = 2000;

/** Options for {@linkcode SseResponse}. */
export interface SseResponseOptions {
  /** Id of this response as a connection, unique among the broker's connections. */
  id: number;
  /** Event bytes queued for the client before the slow-consumer policy applies. */
  maxPendingBytes: number;
  /** What a client that does not read gets: its messages dropped, or disconnected. */
  slowConsumer: SlowConsumerPolicy;
  /**
   * Period of the comment lines that keep the connection open.
   *
   * @default {15000}
   */
  heartbeatMs?: number;
  /**
   * Payloads as UTF-8 text when they are (`"text"`), or always base64.
   *
   * @default {"text"}
   */
  encoding?: PayloadEncoding;
  /** Called once when the response ends, for whatever reason: unsubscribe here. */
  onClose: () => void;
  /**
   * Asked at each heartbeat whether the source is still there (a stream
   * reader whose stream was deleted is not); the response ends when not.
   *
   * @default {() => true}
   */
  alive?: () => boolean;
}

/** Counters of one {@linkcode SseResponse}. */
export interface SseResponseStats {
  /** Events queued for the client. */
  messagesOut: number;
  /** Messages dropped by the slow-consumer policy. */
  dropped: number;
  /** Event bytes queued and not yet taken by the HTTP server. */
  pendingBytes: number;
}

/**
 * A Server-Sent Events response body that subscriptions and stream readers
 * deliver to. Deliveries are synchronous and append to a bounded queue of
 * event bytes; the HTTP server pulls everything queued as one chunk when it
 * can write, so a client that stops reading stops the pulls and fills the
 * queue. Then, like any connection: core messages meet the slow-consumer
 * policy (`drop` counts and drops them; `disconnect` sends an `error` event
 * and ends the response), and stream readers are paused
 * ({@linkcode SseResponse.streamDeliver} returns `false`) until the queue
 * drains below half. Comment heartbeats keep idle connections open; the
 * response ends, and `onClose` runs, when the client goes away.
 *
 * @example Deliver a routed message as an event
 * ```ts
 * import { SseResponse } from "./sse_response.ts";
 * import { encodeMessageSection } from "../../protocol/encode.ts";
 * import assert from "node:assert/strict";
 *
 * let closed = false;
 * const sse = new SseResponse({
 *   id: 1,
 *   maxPendingBytes: 65536,
 *   slowConsumer: "disconnect",
 *   onClose: () => closed = true,
 * });
 * const payload = new TextEncoder().encode("22.5");
 * sse.deliver(1, encodeMessageSection("sensors/kitchen", "", undefined, payload));
 * const reader = sse.body.getReader();
 * const { value } = await reader.read();
 * assert.equal(
 *   new TextDecoder().decode(value),
 *   'event: message\ndata: {"topic":"sensors/kitchen","payload":"22.5","headers":{}}\n\n',
 * );
 * await reader.cancel();
 * assert.ok(closed);
 * ```
 */
export class SseResponse implements Subscriber, DurableSink {
  /** Id of this response as a connection. */
  readonly id: number;
  /** The response body to hand to `new Response(...)`. */
  readonly body: ReadableStream<Uint8Array>;
  #options: SseResponseOptions;
  #encoding: PayloadEncoding;
  #queue: Uint8Array[] = [];
  #pendingBytes = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** The HTTP server waits for a chunk. */
  #wanted = false;
  #scheduled = false;
  #closing = false;
  #ended = false;
  #heartbeat: ReturnType<typeof setInterval>;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #writableWaiters: (() => void)[] = [];
  #messagesOut = 0;
  #dropped = 0;
  #done = Promise.withResolvers<void>();

  /**
   * Makes the response body; deliveries may start at once.
   *
   * @param options Limits, policy and the close callback.
   */
  constructor(options: SseResponseOptions) {
    this.id = options.id;
    this.#options = options;
    this.#encoding = options.encoding ?? "text";
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        this.#wanted = true;
        this.#flush();
      },
      cancel: () => this.#end(),
    }, { highWaterMark: 0 });
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs ?? 15_000);
  }

  /** `true` once the response is ending: deliveries are refused. */
  get closed(): boolean {
    return this.#closing;
  }

  /** Resolves when the response has ended (sent its last byte, or was cancelled or aborted). */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** This response's counters. */
  stats(): SseResponseStats {
    return {
      messagesOut: this.#messagesOut,
      dropped: this.#dropped,
      pendingBytes: this.#pendingBytes,
    };
  }

  /**
   * Queues a routed message as an `event: message`; applies the
   * slow-consumer policy when the queue is full.
   *
   * @param _sid The subscription (one per response).
   * @param message The message section, read during the call only.
   */
  deliver(_sid: number, message: Uint8Array): void {
    if (this.#closing) return;
    const event = messageEvent(undefined, addMessageJson({}, message, this.#encoding));
    // The limit is on the backlog: one event larger than it still goes out
    // when nothing waits (its JSON may be several times the payload).
    if (
      this.#pendingBytes > 0 &&
      this.#pendingBytes + event.length > this.#options.maxPendingBytes
    ) {
      this.#slowConsumer();
      return;
    }
    this.#messagesOut++;
    this.#push(event);
  }

  /**
   * Queues a stream message as an event with `id: <offset>`, unless the
   * queue is full.
   *
   * @param _sid The reader (one per response).
   * @param offset The record's offset.
   * @param timestamp When it was stored.
   * @param message The stored message section.
   * @returns `false` when nothing was queued (full or closing): the reader
   * waits for {@linkcode SseResponse.onWritable}.
   */
  streamDeliver(_sid: number, offset: number, timestamp: number, message: Uint8Array): boolean {
    if (this.#closing) return false;
    const json = addMessageJson({ offset, timestamp }, message, this.#encoding);
    const event = messageEvent(offset, json);
    if (
      this.#pendingBytes > 0 &&
      this.#pendingBytes + event.length > this.#options.maxPendingBytes
    ) return false;
    this.#messagesOut++;
    this.#push(event);
    return true;
  }

  /** Queue messages are not served over SSE: ignored. */
  queueDeliver(): void {}

  /**
   * Calls `wake` once the queue is below half its limit, or the response ends.
   *
   * @param wake The callback.
   */
  onWritable(wake: () => void): void {
    if (this.#closing || this.#pendingBytes < this.#options.maxPendingBytes / 2) {
      queueMicrotask(wake);
      return;
    }
    this.#writableWaiters.push(wake);
  }

  /**
   * Ends the response from the server's side: what is queued is still sent,
   * then the body closes (or is aborted if the client does not take it
   * within two seconds). Idempotent.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#closeSource();
    this.#finishSoon();
  }

  #push(event: Uint8Array): void {
    this.#queue.push(event);
    this.#pendingBytes += event.length;
    if (this.#wanted && !this.#scheduled) {
      // One chunk per tick: everything delivered in this tick goes together.
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#flush();
      });
    }
  }

  /**
   * Hands everything queued to the HTTP server as one chunk, if it waits for
   * one; when closing and nothing is left, ends the body.
   */
  #flush(): void {
    if (this.#ended) return;
    const queue = this.#queue;
    if (queue.length > 0 && this.#wanted) {
      let chunk = queue[0];
      if (queue.length > 1) {
        chunk = new Uint8Array(this.#pendingBytes);
        let at = 0;
        for (let i = 0; i < queue.length; i++) {
          chunk.set(queue[i], at);
          at += queue[i].length;
        }
      }
      this.#queue = [];
      this.#pendingBytes = 0;
      this.#wanted = false;
      this.#controller.enqueue(chunk);
      this.#wakeWritable();
    }
    if (this.#closing && this.#queue.length === 0) {
      try {
        this.#controller.close();
      } catch {
        // Already closed or errored.
      }
      this.#end();
    }
  }

  #beat(): void {
    if (this.#closing) return;
    const alive = this.#options.alive;
    if (alive !== undefined && !alive()) {
      this.close();
      return;
    }
    if (this.#queue.length === 0) this.#push(HEARTBEAT);
  }

  #slowConsumer(): void {
    this.#dropped++;
    if (this.#options.slowConsumer === "drop") {
      if (this.#dropped === 1) {
        logger.warn("SSE response {id} is a slow consumer: dropping messages", { id: this.id });
      }
      return;
    }
    logger.info("Ending SSE response {id}: slow consumer", { id: this.id });
    // The client is not reading: drop what is queued so the error is next.
    this.#queue = [];
    this.#pendingBytes = 0;
    this.#closing = true;
    this.#closeSource();
    const message =
      `Slow consumer: more than ${this.#options.maxPendingBytes} bytes waiting to be sent`;
    const event = toUtf8(
      `event: error\ndata: ${JSON.stringify({ code: "SLOW_CONSUMER", message })}\n\n`,
    );
    this.#queue.push(event);
    this.#pendingBytes = event.length;
    this.#finishSoon();
  }

  /** Sends what is queued now if the server waits, else aborts after the grace period. */
  #finishSoon(): void {
    this.#flush();
    if (this.#ended) return;
    this.#graceTimer = setTimeout(() => {
      if (this.#ended) return;
      try {
        this.#controller.error(new Error("SSE client did not read its last events in time"));
      } catch {
        // Already closed.
      }
      this.#end();
    }, CLOSE_GRACE_MS);
  }

  #closeSource(): void {
    clearInterval(this.#heartbeat);
    try {
      this.#options.onClose();
    } catch (error) {
      logger.error("Closing SSE response {id} failed: {error}", { id: this.id, error });
    }
    this.#wakeWritable();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#pendingBytes = 0;
    clearTimeout(this.#graceTimer);
    if (!this.#closing) {
      this.#closing = true;
      this.#closeSource();
    }
    this.#done.resolve();
  }

  #wakeWritable(): void {
    if (this.#writableWaiters.length === 0) return;
    if (!this.#closing && this.#pendingBytes >= this.#options.maxPendingBytes / 2) return;
    const waiters = this.#writableWaiters;
    this.#writableWaiters = [];
    for (let i = 0; i < waiters.length; i++) waiters[i]();
  }
}

const HEARTBEAT = toUtf8(": heartbeat\n\n");

/** One SSE event; JSON has no raw line breaks, so `data` is one line. */
function messageEvent(offset: number | undefined, json: Record<string, unknown>): Uint8Array {
  const data = JSON.stringify(json);
  return toUtf8(
    offset === undefined
      ? `event: message\ndata: ${data}\n\n`
      : `id: ${offset}\nevent: message\ndata: ${data}\n\n`,
  );
}
