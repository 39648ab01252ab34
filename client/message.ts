// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "../protocol/errors.ts";
import { decodeHeaders } from "../protocol/headers.ts";

const decoder = new TextDecoder();
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** What a message needs from its client to answer a request. */
export interface Responder {
  /** Publishes a reply. */
  publish(
    topic: string,
    data: string | Uint8Array,
    options?: { headers?: Record<string, string> },
  ): Promise<unknown>;
}

/** Options for the {@linkcode Message} constructor. */
export interface MessageOptions {
  /** Where a reply goes. */
  replyTo?: string;
  /** The encoded header block. */
  headerBlock?: Uint8Array;
  /** Who sends replies. */
  responder?: Responder;
  /** The message's offset in its stream (stream readers only). */
  offset?: number;
  /** When the broker stored it, in milliseconds since the epoch (streams and queues). */
  timestamp?: number;
}

/**
 * A message received from a subscription. `data` is the payload as bytes
 * (a view into the received chunk: copy it with `slice()` to keep it long);
 * headers, text and JSON are decoded on first use. Messages read from a
 * stream also carry their `offset` and `timestamp`.
 *
 * @example
 * ```ts
 * import { Message } from "./message.ts";
 * import assert from "node:assert/strict";
 *
 * const msg = new Message("a/b", new TextEncoder().encode('{"t":22.5}'));
 * assert.equal(msg.text(), '{"t":22.5}');
 * assert.deepEqual(msg.json(), { t: 22.5 });
 * assert.deepEqual(msg.headers, {});
 * ```
 */
export class Message {
  /** The topic it was published to. */
  readonly topic: string;
  /** The payload. */
  readonly data: Uint8Array;
  /** Where a reply goes, or `""`. */
  readonly replyTo: string;
  /** The offset in the stream it was read from; `undefined` for live messages. */
  readonly offset: number | undefined;
  /**
   * When the broker stored it, in milliseconds since the epoch; `undefined`
   * for live messages.
   */
  readonly timestamp: number | undefined;
  #headerBlock: Uint8Array | undefined;
  #headers: Record<string, string> | undefined;
  #responder: Responder | undefined;

  /**
   * Creates a message; the client does this for every delivery.
   *
   * @param topic The topic.
   * @param data The payload.
   * @param options Reply-to, the encoded header block, who can reply, and
   * the stream offset and timestamp.
   */
  constructor(topic: string, data: Uint8Array, options: MessageOptions = {}) {
    this.topic = topic;
    this.data = data;
    this.replyTo = options.replyTo ?? "";
    this.offset = options.offset;
    this.timestamp = options.timestamp;
    this.#headerBlock = options.headerBlock;
    this.#responder = options.responder;
  }

  /** The headers, decoded on first access. */
  get headers(): Record<string, string> {
    if (this.#headers === undefined) {
      this.#headers = this.#headerBlock === undefined
        ? NO_HEADERS
        : decodeHeaders(this.#headerBlock);
    }
    return this.#headers;
  }

  /**
   * The payload decoded as UTF-8.
   *
   * @returns The text.
   */
  text(): string {
    return decoder.decode(this.data);
  }

  /**
   * The payload parsed as JSON.
   *
   * @returns The value.
   * @throws {SyntaxError} when the payload is not JSON.
   */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /**
   * Replies to a request: publishes `data` to this message's `replyTo`.
   *
   * @param data The reply payload.
   * @param options Reply headers.
   * @returns Resolves once the reply is queued.
   * @throws {MbError} `INVALID_ARGUMENT` when the message has no `replyTo`.
   */
  respond(
    data: string | Uint8Array,
    options?: { headers?: Record<string, string> },
  ): Promise<void> {
    if (this.replyTo === "" || this.#responder === undefined) {
      return Promise.reject(
        new MbError(
          "INVALID_ARGUMENT",
          `Cannot respond to a message on "${this.topic}": it has no reply-to`,
        ),
      );
    }
    return this.#responder.publish(this.replyTo, data, options).then(ignore);
  }
}

function ignore(): void {}
