// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "../protocol/errors.ts";
import type { Message } from "./message.ts";

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
   * counted in {@linkcode Subscription.dropped}).
   *
   * @default {65536}
   */
  maxPending?: number;
  /** Ends the subscription after this many messages. */
  max?: number;
}

/** The client side the subscription calls back into. */
export interface SubscriptionOwner {
  /** Ends the subscription on the server. */
  unsubscribe(sid: number): Promise<void>;
  /** Reports an error thrown by a subscription's callback. */
  reportError(error: Error): void;
}

/**
 * A live subscription: an `AsyncIterable<Message>` (and, for web-stream
 * code, a `ReadableStream<Message>` through {@linkcode Subscription.readable}).
 * Iteration ends after {@linkcode Subscription.unsubscribe}, when the client
 * closes or drains, or after `max` messages; it throws when the server refused
 * the subscription.
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
 */
export class Subscription implements AsyncIterable<Message> {
  /** The id of this subscription on its connection. */
  readonly sid: number;
  /** The pattern. */
  readonly pattern: string;
  /** The queue group, or `""`. */
  readonly queue: string;
  #owner: SubscriptionOwner;
  #callback: ((message: Message) => void) | undefined;
  #queue: Message[] = [];
  #head = 0;
  #waiter: ((result: IteratorResult<Message>) => void) | undefined;
  #failWaiter: ((error: Error) => void) | undefined;
  #maxPending: number;
  #remaining: number;
  #ended = false;
  #error: MbError | undefined;
  #received = 0;
  #dropped = 0;

  /**
   * Created by `Client.subscribe`.
   *
   * @param owner The client.
   * @param sid The subscription id.
   * @param pattern The pattern.
   * @param options Queue group, callback, limits.
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
    this.#callback = options.callback;
    this.#maxPending = options.maxPending ?? 65536;
    if (options.max !== undefined && !(options.max >= 1)) {
      throw new MbError("INVALID_ARGUMENT", `Invalid max ${options.max}: at least 1 message`);
    }
    this.#remaining = options.max ?? Infinity;
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
    return this.#ended;
  }

  /**
   * Ends the subscription: the server stops sending, messages already queued
   * are still iterated, then iteration ends.
   *
   * @returns Resolves when the server has confirmed.
   */
  unsubscribe(): Promise<void> {
    if (this.#ended) return Promise.resolve();
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
    if (this.#ended) return;
    this.#received++;
    this.#hand(message);
    if (--this.#remaining <= 0) this.unsubscribe().catch(() => {});
  }

  #hand(message: Message): void {
    if (this.#callback !== undefined) {
      try {
        this.#callback(message);
      } catch (error) {
        // A throwing callback must not break the connection for everyone.
        this.#owner.reportError(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      waiter({ value: message, done: false });
      return;
    }
    if (this.#queue.length - this.#head >= this.#maxPending) {
      this.#dropped++;
      return;
    }
    this.#queue.push(message);
  }

  /**
   * Ends iteration after the queued messages; with an error, iteration
   * throws it once the queue is empty. Called by the client.
   *
   * @param error Why, when the server refused the subscription.
   */
  end(error?: MbError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    const waiter = this.#waiter;
    const failWaiter = this.#failWaiter;
    this.#waiter = undefined;
    this.#failWaiter = undefined;
    if (error !== undefined && failWaiter !== undefined) failWaiter(error);
    else if (waiter !== undefined) waiter({ value: undefined, done: true });
  }

  /** Iterates the messages. */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: (): Promise<IteratorResult<Message>> => {
        if (this.#head < this.#queue.length) {
          const value = this.#queue[this.#head];
          this.#queue[this.#head++] = undefined as unknown as Message;
          if (this.#head === this.#queue.length) {
            this.#queue = [];
            this.#head = 0;
          } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
            this.#queue = this.#queue.slice(this.#head);
            this.#head = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (this.#ended) {
          const error = this.#error;
          this.#error = undefined;
          return error === undefined
            ? Promise.resolve({ value: undefined, done: true })
            : Promise.reject(error);
        }
        return new Promise((resolve, reject) => {
          this.#waiter = resolve;
          this.#failWaiter = reject;
        });
      },
      return: (): Promise<IteratorResult<Message>> => {
        this.unsubscribe().catch(() => {});
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
