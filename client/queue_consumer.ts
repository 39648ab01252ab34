// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "../protocol/errors.ts";
import { FrameType, type QueueDeliverFrame } from "../protocol/frames.ts";
import { DeliveryQueue } from "./_delivery_queue.ts";
import { type DurableCore, jobFromFrame } from "./_durable.ts";
import type { Job } from "./job.ts";

/** Options for `Queues.consume`. */
export interface ConsumeOptions {
  /**
   * Jobs the broker hands this consumer before it acks (or nacks) them:
   * each ack makes room for one more.
   *
   * @default {64}
   */
  prefetch?: number;
}

/**
 * A push consumer of a queue, made by `mb.queues.consume(name)`: an
 * `AsyncIterable<Job>`. The broker sends it up to `prefetch` jobs it has not
 * acked yet; ack or nack each. It is started again after a reconnect (jobs
 * not acked by then are delivered again, here or to another consumer).
 * Iteration ends after {@linkcode QueueConsumer.close} or when the client
 * closes, and throws when the broker refused the consumer (`QUEUE_UNKNOWN`,
 * say).
 *
 * @example
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * const consumer = mb.queues.consume("emails", { prefetch: 16 });
 * for await (const job of consumer) {
 *   console.log(job.id, job.text());
 *   await job.ack();
 * }
 * ```
 */
export class QueueConsumer implements AsyncIterable<Job> {
  /** The queue. */
  readonly queue: string;
  /** Most jobs held before acking. */
  readonly prefetch: number;
  #core: DurableCore;
  #sid = 0;
  #jobs = new DeliveryQueue<Job>();
  #ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (error: MbError) => void;
  #readySettled = false;
  #closed: Promise<MbError | undefined>;
  #closedResolve!: (error: MbError | undefined) => void;

  /**
   * Created by `Queues.consume`, which also starts it.
   *
   * @param core The client.
   * @param queue The queue.
   * @param options The prefetch.
   * @throws {MbError} `INVALID_ARGUMENT` for a bad prefetch.
   */
  constructor(core: DurableCore, queue: string, options?: ConsumeOptions) {
    const prefetch = options?.prefetch ?? 64;
    if (!Number.isSafeInteger(prefetch) || prefetch < 1 || prefetch > 0xffffffff) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Invalid prefetch ${prefetch}: use an integer of 1 or more`,
      );
    }
    this.#core = core;
    this.queue = queue;
    this.prefetch = prefetch;
    this.#ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // Awaiting `ready` is optional: a refusal also ends the iteration.
    this.#ready.catch(() => {});
    this.#closed = new Promise((resolve) => this.#closedResolve = resolve);
  }

  /** Whether the consumer has ended. */
  get ended(): boolean {
    return this.#jobs.ended;
  }

  /**
   * Resolves once the broker has attached the consumer, or when it ends
   * before that; rejects with the broker's error when it refused it.
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Resolves when the consumer has ended: with `undefined` after
   * {@linkcode QueueConsumer.close} or the client's close, or with the error
   * the broker refused it with.
   */
  get closed(): Promise<MbError | undefined> {
    return this.#closed;
  }

  /**
   * Starts the consumer: registers it and asks the broker for deliveries.
   * Called once by `Queues.consume`.
   */
  start(): void {
    this.#sid = this.#core.attach(this);
    this.restart();
  }

  /**
   * Asks the broker for deliveries (again, on a new connection). Called by
   * the client. Jobs received on the lost connection and not yet taken are
   * dropped: the broker delivers them again.
   */
  restart(): void {
    this.#jobs.clear();
    const sid = this.#sid;
    this.#core.request((requestId) => ({
      type: FrameType.QueueConsume,
      requestId,
      sid,
      queue: this.queue,
      prefetch: this.prefetch,
    })).then(() => {
      if (this.#readySettled) return;
      this.#readySettled = true;
      this.#readyResolve();
    }, (error) => {
      if (error instanceof MbError && error.code === "CONNECTION_CLOSED") return;
      this.#core.detach(sid);
      this.end(error instanceof MbError ? error : new MbError("INTERNAL", String(error)));
    });
  }

  /**
   * Stops the consumer: the broker sends no more jobs, those already
   * received are still iterated (ack them), then iteration ends. Jobs it
   * held and did not ack are delivered again.
   *
   * @returns Resolves when the broker has confirmed.
   */
  close(): Promise<void> {
    if (this.#jobs.ended) return Promise.resolve();
    this.end();
    return this.#core.unsubscribe(this.#sid);
  }

  /**
   * Takes a delivery; called by the client.
   *
   * @param frame The delivery.
   */
  deliver(frame: QueueDeliverFrame): void {
    if (this.#jobs.ended) return;
    // Bounded by the prefetch on the broker's side: never drop.
    this.#jobs.push(jobFromFrame(frame, this.queue, this.#core), Infinity);
  }

  /**
   * Ends iteration after the queued jobs; with an error, iteration throws
   * it. Called by the client.
   *
   * @param error Why, when the broker refused the consumer.
   */
  end(error?: MbError): void {
    if (this.#jobs.ended) return;
    if (!this.#readySettled) {
      this.#readySettled = true;
      if (error === undefined) this.#readyResolve();
      else this.#readyReject(error);
    }
    this.#jobs.end(error);
    this.#closedResolve(error);
  }

  /** Iterates the jobs. */
  [Symbol.asyncIterator](): AsyncIterator<Job> {
    return {
      next: (): Promise<IteratorResult<Job>> => this.#jobs.next(),
      return: (): Promise<IteratorResult<Job>> => {
        this.close().catch(() => {});
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
