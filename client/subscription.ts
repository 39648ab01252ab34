// Copyright mb authors. MIT license.
// This module is browser compatible.

import { nameProblem } from "../protocol/durable.ts";
import { MbError } from "../protocol/errors.ts";
import type { StreamStart } from "../protocol/frames.ts";
import { DeliveryQueue } from "./_delivery_queue.ts";
import type { Message } from "./message.ts";

/**
 * Where a stream reader starts: an offset, `"first"` (the oldest message the
 * stream holds), `"last"` (its newest message, then new ones), `"new"` (only
 * messages stored from now on), or a `Date` (the first message stored at or
 * after it).
 */
export type StreamFrom = number | "first" | "last" | "new" | Date;

/** Options for `Client.subscribe`. */
export interface SubscribeOptions {
  /** Join this queue group: each message goes to one member of the group. */
  queue?: string;
  /**
   * Receive messages through this function, called synchronously as frames
   * are decoded, instead of the async iterator.
   */
  callback?: (message: Message) => void;
  /**
   * Messages queued for the iterator before further ones are dropped (and
   * counted in {@linkcode Subscription.dropped}). Stream readers never drop:
   * their queue is bounded by `credit`.
   *
   * @default {65536}
   */
  maxPending?: number;
  /** Ends the subscription after this many messages. */
  max?: number;
  /**
   * Read this stream (replay, then live) instead of live messages: only its
   * messages whose topic matches the pattern, each with its `offset` and
   * `timestamp`. Resumes after the last message received when the client
   * reconnects.
   */
  stream?: string;
  /**
   * Where a stream reader starts (only with `stream`).
   *
   * @default {"new"}
   */
  from?: StreamFrom;
  /**
   * Stream messages the broker may send ahead of the application (only with
   * `stream`). More is granted each time the application has taken half of
   * it, so a slow reader holds at most this many in memory.
   *
   * @default {1000}
   */
  credit?: number;
}

/** The client side the subscription calls back into. */
export interface SubscriptionOwner {
  /** Ends the subscription on the server. */
  unsubscribe(sid: number): Promise<void>;
  /** Reports an error thrown by a subscription's callback. */
  reportError(error: Error): void;
  /** Grants a stream reader `credit` more messages. */
  credit(sid: number, credit: number): void;
}

/**
 * A live subscription: an `AsyncIterable<Message>` (and, for web-stream
 * code, a `ReadableStream<Message>` through {@linkcode Subscription.readable}).
 * Iteration ends after {@linkcode Subscription.unsubscribe}, when the client
 * closes or drains, or after `max` messages; it throws when the server refused
 * the subscription (for a stream reader, `STREAM_UNKNOWN` or
 * `OFFSET_OUT_OF_RANGE`, say).
 *
 * @example
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * const sub = mb.subscribe("sensors/#");
 * for await (const msg of sub) {
 *   console.log(msg.topic, msg.text());
 * }
 * ```
 *
 * @example Replay a stream from its first message
 * ```ts ignore
 * const orders = mb.subscribe("orders/#", { stream: "orders", from: "first" });
 * await orders.ready; // rejects with STREAM_UNKNOWN if there is no such stream
 * for await (const msg of orders) console.log(msg.offset, msg.text());
 * ```
 */
export class Subscription implements AsyncIterable<Message> {
  /** The id of this subscription on its connection. */
  readonly sid: number;
  /** The pattern. */
  readonly pattern: string;
  /** The queue group, or `""`. */
  readonly queue: string;
  /** The stream this subscription reads, or `""` for live messages. */
  readonly stream: string;
  #owner: SubscriptionOwner;
  #callback: ((message: Message) => void) | undefined;
  #queue: DeliveryQueue<Message>;
  /** `maxPending`, or no limit for a stream reader (its credit bounds it). */
  #maxQueued: number;
  #isStream: boolean;
  #remaining: number;
  #received = 0;
  #dropped = 0;
  #ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (error: MbError) => void;
  #readySettled = false;
  #start: StreamStart;
  #window: number;
  #lastOffset = -1;
  #taken = 0;

  /**
   * Created by `Client.subscribe`.
   *
   * @param owner The client.
   * @param sid The subscription id.
   * @param pattern The pattern.
   * @param options Queue group, callback, limits, stream.
   * @throws {MbError} `INVALID_ARGUMENT` for a `max` below 1 or a bad stream
   * option.
   */
  constructor(
    owner: SubscriptionOwner,
    sid: number,
    pattern: string,
    options: SubscribeOptions = {},
  ) {
    this.#owner = owner;
    this.sid = sid;
    this.pattern = pattern;
    this.queue = options.queue ?? "";
    this.stream = options.stream ?? "";
    this.#callback = options.callback;
    this.#isStream = this.stream !== "";
    // A stream reader's queue is bounded by its credit: dropping would leave a gap.
    this.#maxQueued = this.#isStream ? Infinity : options.maxPending ?? 65536;
    if (options.max !== undefined && !(options.max >= 1)) {
      throw new MbError("INVALID_ARGUMENT", `Invalid max ${options.max}: at least 1 message`);
    }
    this.#remaining = options.max ?? Infinity;
    this.#start = streamStart(options);
    this.#window = streamCredit(options);
    this.#queue = new DeliveryQueue(this.#isStream ? () => this.#took() : undefined);
    this.#ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // Awaiting `ready` is optional: a refusal also ends the iteration.
    this.#ready.catch(() => {});
  }

  /** Messages received so far. */
  get received(): number {
    return this.#received;
  }

  /** Messages dropped because the iterator fell `maxPending` behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether the subscription has ended. */
  get ended(): boolean {
    return this.#queue.ended;
  }

  /**
   * Resolves once the broker has applied the subscription, or when it ends
   * before that; rejects with the broker's error when it refused it
   * (`TOPIC_INVALID`, `SUBSCRIPTION_LIMIT`, `STREAM_UNKNOWN`,
   * `OFFSET_OUT_OF_RANGE`, ...), the error iteration then throws too.
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * The offset of the last stream message received, or `undefined` when none
   * has been (or this is no stream reader).
   */
  get lastOffset(): number | undefined {
    return this.#lastOffset < 0 ? undefined : this.#lastOffset;
  }

  /**
   * Ends the subscription: the server stops sending, messages already queued
   * are still iterated, then iteration ends.
   *
   * @returns Resolves when the server has confirmed.
   */
  unsubscribe(): Promise<void> {
    if (this.#queue.ended) return Promise.resolve();
    this.end();
    return this.#owner.unsubscribe(this.sid);
  }

  /** The messages as a web `ReadableStream`. */
  get readable(): ReadableStream<Message> {
    const iterator = this[Symbol.asyncIterator]();
    return new ReadableStream<Message>({
      async pull(controller) {
        const result = await iterator.next();
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      },
      cancel: () => this.unsubscribe().catch(() => {}),
    }, { highWaterMark: 0 });
  }

  /**
   * Hands a message to the callback or the iterator; called by the client.
   *
   * @param message The message.
   */
  push(message: Message): void {
    if (this.#queue.ended) return;
    this.#received++;
    this.#hand(message);
    if (--this.#remaining <= 0) this.unsubscribe().catch(() => {});
  }

  /**
   * Hands a stream message on and remembers its offset, where the reader
   * resumes after a reconnect; called by the client.
   *
   * @param message The message, with its `offset`.
   */
  pushStream(message: Message): void {
    if (this.#queue.ended) return;
    this.#lastOffset = message.offset!;
    this.push(message);
  }

  /**
   * Where a stream reader starts on a (new) connection: after the last
   * message received, else where it was asked to. Called by the client.
   *
   * @returns The start.
   */
  resumeFrom(): StreamStart {
    if (this.#lastOffset >= 0) return { kind: "offset", value: this.#lastOffset + 1 };
    return this.#start;
  }

  /**
   * The credit a stream reader asks for on a (new) connection: its window
   * less the messages still queued. Called by the client.
   *
   * @returns The credit.
   */
  initialCredit(): number {
    this.#taken = 0;
    return Math.max(1, this.#window - this.#queue.size);
  }

  /**
   * Marks the subscription applied by the broker; called by the client.
   *
   * @param startOffset For a stream reader, the offset the broker started
   * it at: a reconnect before any message resumes there, so messages stored
   * meanwhile are not skipped.
   */
  confirmed(startOffset?: number): void {
    // A time start is searched again on a new connection, with the same
    // result; the offset in the answer is where the search begins.
    if (startOffset !== undefined && this.#lastOffset < 0 && this.#start.kind !== "time") {
      this.#start = { kind: "offset", value: startOffset };
    }
    if (this.#readySettled) return;
    this.#readySettled = true;
    this.#readyResolve();
  }

  #took(): void {
    if (++this.#taken * 2 < this.#window || this.#queue.ended) return;
    const credit = this.#taken;
    this.#taken = 0;
    this.#owner.credit(this.sid, credit);
  }

  #hand(message: Message): void {
    if (this.#callback !== undefined) {
      try {
        this.#callback(message);
      } catch (error) {
        // A throwing callback must not break the connection for everyone.
        this.#owner.reportError(error instanceof Error ? error : new Error(String(error)));
      }
      if (this.#isStream) this.#took();
      return;
    }
    if (!this.#queue.push(message, this.#maxQueued)) this.#dropped++;
  }

  /**
   * Ends iteration after the queued messages; with an error, iteration
   * throws it once the queue is empty. Called by the client.
   *
   * @param error Why, when the server refused the subscription.
   */
  end(error?: MbError): void {
    if (this.#queue.ended) return;
    if (!this.#readySettled) {
      this.#readySettled = true;
      if (error === undefined) this.#readyResolve();
      else this.#readyReject(error);
    }
    this.#queue.end(error);
  }

  /** Iterates the messages. */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: (): Promise<IteratorResult<Message>> => this.#queue.next(),
      return: (): Promise<IteratorResult<Message>> => {
        this.unsubscribe().catch(() => {});
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

const STREAM_STARTS: readonly string[] = ["first", "last", "new"];

function streamStart(options: SubscribeOptions): StreamStart {
  const from = options.from;
  if (options.stream === undefined) {
    if (from !== undefined || options.credit !== undefined) {
      throw new MbError(
        "INVALID_ARGUMENT",
        "Invalid subscribe options: 'from' and 'credit' need 'stream'",
      );
    }
    return NEW;
  }
  const problem = nameProblem(options.stream);
  if (problem !== undefined) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Invalid stream name ${JSON.stringify(options.stream)}: ${problem}`,
    );
  }
  if (options.queue !== undefined && options.queue !== "") {
    throw new MbError("INVALID_ARGUMENT", "Cannot read a stream in a queue group");
  }
  if (from === undefined) return NEW;
  if (typeof from === "number") {
    if (!Number.isSafeInteger(from) || from < 0) {
      throw new MbError("INVALID_ARGUMENT", `Invalid from ${from}: use an offset of 0 or more`);
    }
    return { kind: "offset", value: from };
  }
  if (from instanceof Date) {
    const time = from.getTime();
    if (!(time >= 0)) {
      throw new MbError("INVALID_ARGUMENT", `Invalid from date ${String(from)}`);
    }
    return { kind: "time", value: time };
  }
  if (STREAM_STARTS.includes(from)) return { kind: from };
  throw new MbError(
    "INVALID_ARGUMENT",
    `Invalid from ${JSON.stringify(from)}: use an offset, "first", "last", "new" or a Date`,
  );
}

function streamCredit(options: SubscribeOptions): number {
  const credit = options.credit ?? 1000;
  if (!Number.isSafeInteger(credit) || credit < 1 || credit > 0xffffffff) {
    throw new MbError("INVALID_ARGUMENT", `Invalid credit ${credit}: use an integer of 1 or more`);
  }
  return credit;
}

const NEW: StreamStart = { kind: "new" };
