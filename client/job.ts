// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "../protocol/errors.ts";
import { AckAction } from "../protocol/frames.ts";
import { Message, type MessageOptions } from "./message.ts";

/** What a job needs from its client to settle it. */
export interface JobSettler {
  /**
   * Sends an ack or nack and resolves on the broker's answer.
   *
   * @param queue The queue.
   * @param messageId The message's id in it.
   * @param action Ack or nack.
   * @param delayMs For a nack, how long to wait before redelivering.
   */
  settle(queue: string, messageId: number, action: AckAction, delayMs: number): Promise<void>;
}

/** Options for {@linkcode Job.nack}. */
export interface NackOptions {
  /**
   * Wait this long before the broker delivers the message again.
   *
   * @default {0}
   */
  delayMs?: number;
}

/** Where a job came from, for the {@linkcode Job} constructor. */
export interface JobOptions extends MessageOptions {
  /** The queue it was taken from. */
  queue: string;
  /** Its message id in that queue. */
  id: number;
  /** Deliveries so far, this one included. */
  deliveryCount: number;
  /** Who acks and nacks it; without one, `ack` and `nack` reject. */
  settler?: JobSettler;
}

/**
 * A message taken from a queue, by a consumer or a fetch: a
 * {@linkcode Message} (topic, data, headers, `text()`, `json()`) plus the
 * queue, its id there and how often it was delivered. Settle it with
 * {@linkcode Job.ack} when done, or {@linkcode Job.nack} to have it
 * delivered again; a job neither acked nor nacked within the queue's
 * `ackWaitMs` is delivered again too.
 *
 * @example
 * ```ts
 * import { Job } from "./job.ts";
 * import assert from "node:assert/strict";
 *
 * const job = new Job("emails", new TextEncoder().encode('{"to":"a@b.c"}'), {
 *   queue: "emails",
 *   id: 7,
 *   deliveryCount: 1,
 * });
 * assert.deepEqual(job.json(), { to: "a@b.c" });
 * assert.equal(job.id, 7);
 * await assert.rejects(job.ack(), { code: "INVALID_ARGUMENT" });
 * ```
 *
 * @example Work through a queue
 * ```ts ignore
 * for await (const job of mb.queues.consume("emails")) {
 *   try {
 *     await send(job.json());
 *     await job.ack();
 *   } catch {
 *     await job.nack({ delayMs: 5000 });
 *   }
 * }
 * ```
 */
export class Job extends Message {
  /** The queue it was taken from. */
  readonly queue: string;
  /** Its message id in the queue. */
  readonly id: number;
  /** How many times it has been delivered, this time included. */
  readonly deliveryCount: number;
  #settler: JobSettler | undefined;

  /**
   * Creates a job; the client does this for every queue delivery.
   *
   * @param topic The topic it was published to (the queue's name for a
   * direct send).
   * @param data The payload.
   * @param options The queue, id, delivery count, and message options.
   */
  constructor(topic: string, data: Uint8Array, options: JobOptions) {
    super(topic, data, options);
    this.queue = options.queue;
    this.id = options.id;
    this.deliveryCount = options.deliveryCount;
    this.#settler = options.settler;
  }

  /**
   * Tells the broker the job is done: it is removed from the queue.
   *
   * @returns Resolves when the broker has recorded it.
   * @throws {MbError} `MESSAGE_UNKNOWN` when the job was already settled or
   * was redelivered to someone else meanwhile, `CONNECTION_CLOSED` when the
   * connection is lost first.
   */
  ack(): Promise<void> {
    return this.#settle(AckAction.Ack, 0);
  }

  /**
   * Tells the broker the job failed: it is delivered again, after
   * `delayMs`. After the queue's `maxDeliver` deliveries it goes to the
   * dead-letter queue instead.
   *
   * @param options The delay.
   * @returns Resolves when the broker has recorded it.
   * @throws {MbError} `MESSAGE_UNKNOWN`, `INVALID_ARGUMENT` for a bad delay,
   * `CONNECTION_CLOSED`.
   */
  nack(options?: NackOptions): Promise<void> {
    const delayMs = options?.delayMs ?? 0;
    if (!Number.isSafeInteger(delayMs) || delayMs < 0 || delayMs > 0xffffffff) {
      return Promise.reject(
        new MbError("INVALID_ARGUMENT", `Invalid delayMs ${delayMs}: use milliseconds, 0 or more`),
      );
    }
    return this.#settle(AckAction.Nack, delayMs);
  }

  #settle(action: AckAction, delayMs: number): Promise<void> {
    if (this.#settler === undefined) {
      return Promise.reject(
        new MbError("INVALID_ARGUMENT", `Cannot settle job ${this.id}: it has no client`),
      );
    }
    return this.#settler.settle(this.queue, this.id, action, delayMs);
  }
}
