// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "../protocol/errors.ts";
import type { Message } from "./message.ts";
import type { RequestOptions } from "./options.ts";

interface PendingRequest {
  resolve(message: Message): void;
  reject(error: Error): void;
}

/** A request in flight, as {@linkcode RequestMux.start} returns it. */
export interface StartedRequest {
  /** The inbox topic the reply must go to. */
  replyTo: string;
  /** Resolves with the reply; rejects on timeout, abort or `fail`. */
  reply: Promise<Message>;
  /** Fails the request (for example when its publish was refused). */
  fail(error: Error): void;
}

/**
 * Request/reply over one inbox subscription per client: each request gets
 * the topic `_inbox/<client id>/<token>`, and replies arriving on
 * `_inbox/<client id>/+` are matched back to their request by token.
 *
 * @example
 * ```ts
 * import { RequestMux } from "./request_mux.ts";
 * import { Message } from "./message.ts";
 * import assert from "node:assert/strict";
 *
 * const mux = new RequestMux();
 * const { replyTo, reply } = mux.start("time/now", { timeoutMs: 1000 });
 * mux.handle(new Message(replyTo, new TextEncoder().encode("noon")));
 * assert.equal((await reply).text(), "noon");
 * ```
 */
export class RequestMux {
  /** The inbox prefix of this client. */
  readonly inbox: string;
  #pending = new Map<string, PendingRequest>();
  #nextToken = 1;

  /** Creates a mux with a random inbox. */
  constructor() {
    this.inbox = `_inbox/${randomId()}`;
  }

  /** The pattern to subscribe to for replies. */
  get pattern(): string {
    return `${this.inbox}/+`;
  }

  /**
   * Registers a request.
   *
   * @param topic The request's topic, for error messages.
   * @param options Timeout and abort signal.
   * @returns The reply topic, the reply promise, and a way to fail it.
   */
  start(topic: string, options?: RequestOptions): StartedRequest {
    const token = String(this.#nextToken++);
    const timeoutMs = options?.timeoutMs ?? 5000;
    const signal = options?.signal;
    // Not Promise.withResolvers: Node.js 20 lacks it.
    let resolve!: (message: Message) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<Message>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const settle = (error: Error | undefined, message?: Message) => {
      if (!this.#pending.delete(token)) return;
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      if (error !== undefined) reject(error);
      else resolve(message!);
    };
    const abort = () => settle(signal!.reason ?? new MbError("TIMEOUT", "Request aborted"));
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
    this.#pending.set(token, {
      resolve: (message) => settle(undefined, message),
      reject: (error) => settle(error),
    });
    if (signal?.aborted) abort();
    else signal?.addEventListener("abort", abort, { once: true });
    return { replyTo: `${this.inbox}/${token}`, reply: promise, fail: (error) => settle(error) };
  }

  /**
   * Hands a message from the inbox subscription to its request.
   *
   * @param message A reply.
   */
  handle(message: Message): void {
    const token = message.topic.slice(this.inbox.length + 1);
    this.#pending.get(token)?.resolve(message);
  }

  /**
   * Fails every request in flight.
   *
   * @param error Why.
   */
  rejectAll(error: Error): void {
    for (const request of [...this.#pending.values()]) request.reject(error);
  }
}

function randomId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  let id = "";
  for (const byte of bytes) id += byte.toString(36).padStart(2, "0");
  return id;
}
