// Copyright mb authors. MIT license.
// This module is browser compatible.

import { readU64, utf8Length, writeUtf8 } from "../protocol/_bytes.ts";
import type { QueueConfig, QueueInfo } from "../protocol/durable.ts";
import { MbError } from "../protocol/errors.ts";
import { FrameType } from "../protocol/frames.ts";
import { encodeHeaders } from "../protocol/headers.ts";
import { patternProblem, topicProblem } from "../protocol/topic.ts";
import {
  checkName,
  type DurableCore,
  jobFromFrame,
  type JobReceiver,
  purgedCount,
  runCommand,
  runNamedCommand,
} from "./_durable.ts";
import type { Job } from "./job.ts";
import { type ConsumeOptions, QueueConsumer } from "./queue_consumer.ts";

/** Options for {@linkcode Queues.declare}: a queue's configuration less its name. */
export type QueueDeclareOptions = Omit<QueueConfig, "name">;

/** Options for {@linkcode Queues.send}. */
export interface QueueSendOptions {
  /** Message headers. */
  headers?: Record<string, string>;
  /**
   * The topic recorded with the message.
   *
   * @default {the queue's name}
   */
  topic?: string;
  /** Where replies go (see `Job.respond`). */
  replyTo?: string;
}

/** Options for {@linkcode Queues.fetch}. */
export interface FetchOptions {
  /**
   * Most jobs to return.
   *
   * @default {1}
   */
  max?: number;
  /**
   * How long the broker waits for a first job when the queue is empty;
   * 0 returns at once.
   *
   * @default {0}
   */
  waitMs?: number;
  /**
   * Time allowed, beyond `waitMs`, for the broker's answer before the fetch
   * fails with `TIMEOUT`.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/** The longest delay `setTimeout` takes. */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * Work queues, as `mb.queues`: declare them, send jobs, consume them (push)
 * or fetch them (pull), and administer them. A queue keeps each message until
 * one consumer acks it; a message not acked within the queue's `ackWaitMs`
 * is delivered again, and after `maxDeliver` deliveries goes to the
 * dead-letter queue. Messages published to the queue's `topics` are added
 * to it too.
 *
 * Every method rejects with `INVALID_ARGUMENT` without asking the broker
 * when the name is not valid (see `nameProblem`) or the broker runs
 * without a store.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * await mb.queues.declare("emails", { ackWaitMs: 60_000, deadLetter: "emails-failed" });
 * await mb.queues.send("emails", JSON.stringify({ to: "a@example.com" }));
 * const [job] = await mb.queues.fetch("emails", { waitMs: 1000 });
 * if (job !== undefined) {
 *   console.log(job.json());
 *   await job.ack();
 * }
 * ```
 */
export class Queues {
  #core: DurableCore;

  /**
   * Created by the client; use `mb.queues`.
   *
   * @param core The client.
   */
  constructor(core: DurableCore) {
    this.#core = core;
  }

  /**
   * Creates a queue, or returns the existing one when its configuration is
   * the same; a different one fails with `ALREADY_EXISTS`.
   *
   * @param name The queue.
   * @param options Topics it takes, ack wait, redelivery limit, dead-letter
   * queue, size limit.
   * @returns The queue's info.
   * @throws {MbError} `INVALID_ARGUMENT`, `TOPIC_INVALID`,
   * `ALREADY_EXISTS`, `STORAGE_FAILED`.
   *
   * @example
   * ```ts ignore
   * await mb.queues.declare("resize", { topics: ["images/uploaded/#"], maxDeliver: 3 });
   * ```
   */
  declare(name: string, options?: QueueDeclareOptions): Promise<QueueInfo> {
    const action = `declare queue ${JSON.stringify(name)}`;
    try {
      checkName(name, action);
      for (const topic of options?.topics ?? []) {
        const problem = patternProblem(topic);
        if (problem !== undefined) {
          throw new MbError(
            "TOPIC_INVALID",
            `Cannot ${action}: invalid topic ${JSON.stringify(topic)}: ${problem}`,
          );
        }
      }
      if (options?.deadLetter !== undefined) checkName(options.deadLetter, action);
    } catch (error) {
      return Promise.reject(error);
    }
    return runCommand(this.#core, action, "queue.declare", { ...options, name }) as Promise<
      QueueInfo
    >;
  }

  /**
   * Puts a message on a queue.
   *
   * @param name The queue.
   * @param data The payload: text (sent as UTF-8) or bytes.
   * @param options Headers, topic, reply-to.
   * @returns The message's id in the queue, once the broker has stored it
   * (written to disk as its fsync policy says).
   * @throws {MbError} `QUEUE_UNKNOWN`, `STORAGE_FULL`, `PAYLOAD_TOO_LARGE`,
   * `TOPIC_INVALID`, `HEADERS_INVALID`, `INVALID_ARGUMENT`,
   * `CONNECTION_CLOSED`.
   *
   * @example
   * ```ts ignore
   * const id = await mb.queues.send("emails", '{"to":"a@example.com"}', {
   *   headers: { priority: "high" },
   * });
   * ```
   */
  send(name: string, data: string | Uint8Array, options?: QueueSendOptions): Promise<number> {
    const action = `send to queue ${JSON.stringify(name)}`;
    try {
      checkName(name, action);
      this.#core.assertDurable(action);
      const topic = options?.topic ?? "";
      const replyTo = options?.replyTo ?? "";
      for (const [what, value] of [["topic", topic], ["reply-to", replyTo]]) {
        const problem = value === "" ? undefined : topicProblem(value);
        if (problem !== undefined) {
          throw new MbError(
            "TOPIC_INVALID",
            `Cannot ${action}: invalid ${what} ${JSON.stringify(value)}: ${problem}`,
          );
        }
      }
      const headers = options?.headers === undefined ? undefined : encodeHeaders(options.headers);
      let payload: Uint8Array;
      if (typeof data === "string") {
        const length = utf8Length(data);
        payload = new Uint8Array(length);
        writeUtf8(data, length, payload, 0);
      } else payload = data;
      const max = this.#core.payloadLimit();
      if (max !== undefined && payload.length > max) {
        throw new MbError(
          "PAYLOAD_TOO_LARGE",
          `Cannot ${action}: ${payload.length} bytes, the server's limit is ${max}`,
        );
      }
      return this.#core.request((requestId) => ({
        type: FrameType.QueueSend,
        requestId,
        queue: name,
        topic,
        replyTo,
        headers,
        payload,
      })).then((result) => {
        if (result.length !== 8) {
          throw new MbError(
            "FRAME_MALFORMED",
            `Cannot ${action}: the broker answered ${result.length} bytes, not a message id`,
          );
        }
        return readU64(result, 0);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Consumes a queue: the broker pushes up to `prefetch` jobs at a time.
   *
   * @param name The queue.
   * @param options The prefetch.
   * @returns The consumer, iterable at once.
   * @throws {MbError} `INVALID_ARGUMENT` (thrown) for a bad name or
   * prefetch, or a broker without a store; `QUEUE_UNKNOWN` (from the
   * iteration and `ready`) when there is no such queue.
   *
   * @example
   * ```ts ignore
   * const consumer = mb.queues.consume("emails", { prefetch: 8 });
   * for await (const job of consumer) {
   *   await handle(job.json());
   *   await job.ack();
   * }
   * ```
   */
  consume(name: string, options?: ConsumeOptions): QueueConsumer {
    const action = `consume queue ${JSON.stringify(name)}`;
    checkName(name, action);
    this.#core.assertDurable(action);
    const consumer = new QueueConsumer(this.#core, name, options);
    consumer.start();
    return consumer;
  }

  /**
   * Takes up to `max` jobs from a queue, waiting up to `waitMs` for the
   * first when it is empty (a long poll). Ack or nack each job.
   *
   * @param name The queue.
   * @param options How many, how long.
   * @returns The jobs; empty when none came in time.
   * @throws {MbError} `QUEUE_UNKNOWN`, `INVALID_ARGUMENT`, `TIMEOUT` when
   * the broker does not answer within `waitMs + timeoutMs` (jobs it sends
   * after that are delivered again once their ack wait passes),
   * `CONNECTION_CLOSED`.
   *
   * @example
   * ```ts ignore
   * const jobs = await mb.queues.fetch("emails", { max: 10, waitMs: 5000 });
   * for (const job of jobs) await job.ack();
   * ```
   */
  fetch(name: string, options?: FetchOptions): Promise<Job[]> {
    const action = `fetch from queue ${JSON.stringify(name)}`;
    const max = options?.max ?? 1;
    const waitMs = options?.waitMs ?? 0;
    const timeoutMs = options?.timeoutMs ?? 5000;
    try {
      checkName(name, action);
      checkInteger(max, 1, "max", action);
      checkInteger(waitMs, 0, "waitMs", action);
      checkInteger(timeoutMs, 0, "timeoutMs", action);
      this.#core.assertDurable(action);
    } catch (error) {
      return Promise.reject(error);
    }
    const core = this.#core;
    const jobs: Job[] = [];
    const receiver: JobReceiver = {
      deliver: (frame) => void jobs.push(jobFromFrame(frame, name, core)),
      end() {},
    };
    const sid = core.attach(receiver);
    return new Promise<Job[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        core.detach(sid);
        reject(
          new MbError(
            "TIMEOUT",
            `Cannot ${action}: no answer within ${waitMs + timeoutMs} ms`,
          ),
        );
      }, Math.min(waitMs + timeoutMs, MAX_TIMER_MS));
      core.request((requestId) => ({
        type: FrameType.Fetch,
        requestId,
        sid,
        queue: name,
        max,
        waitMs,
      })).then(() => {
        clearTimeout(timer);
        core.detach(sid);
        resolve(jobs);
      }, (error) => {
        clearTimeout(timer);
        core.detach(sid);
        reject(error);
      });
    });
  }

  /**
   * Describes a queue.
   *
   * @param name The queue.
   * @returns Its configuration and state.
   * @throws {MbError} `QUEUE_UNKNOWN`.
   *
   * @example
   * ```ts ignore
   * const { messages, inFlight, consumers } = await mb.queues.info("emails");
   * ```
   */
  info(name: string): Promise<QueueInfo> {
    return this.#named("queue.info", name, `describe queue ${JSON.stringify(name)}`) as Promise<
      QueueInfo
    >;
  }

  /**
   * Lists the queues.
   *
   * @returns Every queue's info.
   *
   * @example
   * ```ts ignore
   * for (const queue of await mb.queues.list()) console.log(queue.name, queue.messages);
   * ```
   */
  list(): Promise<QueueInfo[]> {
    return runCommand(this.#core, "list queues", "queue.list", {}) as Promise<QueueInfo[]>;
  }

  /**
   * Deletes a queue and every message in it. Its consumers end.
   *
   * @param name The queue.
   * @returns Resolves when it is gone.
   * @throws {MbError} `QUEUE_UNKNOWN`.
   *
   * @example
   * ```ts ignore
   * await mb.queues.delete("emails");
   * ```
   */
  delete(name: string): Promise<void> {
    return this.#named("queue.delete", name, `delete queue ${JSON.stringify(name)}`)
      .then(ignore);
  }

  /**
   * Removes every message waiting in a queue.
   *
   * @param name The queue.
   * @returns How many messages were removed.
   * @throws {MbError} `QUEUE_UNKNOWN`.
   *
   * @example
   * ```ts ignore
   * const removed = await mb.queues.purge("emails");
   * ```
   */
  purge(name: string): Promise<number> {
    return this.#named("queue.purge", name, `purge queue ${JSON.stringify(name)}`)
      .then(purgedCount);
  }

  #named(op: string, name: string, action: string): Promise<unknown> {
    return runNamedCommand(this.#core, op, name, action);
  }
}

function checkInteger(value: number, min: number, what: string, action: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > 0xffffffff) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Cannot ${action}: invalid ${what} ${value}: use an integer of ${min} or more`,
    );
  }
}

function ignore(): void {}
