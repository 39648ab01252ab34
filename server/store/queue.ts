// Copyright mb authors. MIT license.

import type { QueueConfig, QueueInfo } from "../../protocol/durable.ts";
import { AckAction } from "../../protocol/frames.ts";
import { MbError } from "../../protocol/errors.ts";
import { quote } from "../../protocol/_text.ts";
import type { StoredCallback } from "./_append_batcher.ts";
import { QueueCore } from "./_queue_core.ts";
import type { DurableLog } from "./durable_log.ts";
import type { DurableSink } from "./sink.ts";

export type { StoredCallback } from "./_append_batcher.ts";

/** Options for {@linkcode Queue.open}. */
export interface QueueOptions {
  /**
   * The clock, in milliseconds since the epoch, that stamps stored
   * messages. Ack deadlines and nack delays run on timers and a monotonic
   * clock, not on this one.
   *
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * Finds a queue by name when a message is to be dead-lettered, so the
   * dead-letter queue may be declared (or replaced) at any time. Without
   * it, or when it finds nothing, such messages are dropped with a warning.
   *
   * @default {undefined}
   */
  resolveQueue?: (name: string) => Queue | undefined;
}

/**
 * A push consumer attached with {@linkcode Queue.consume}. It ends when it
 * is closed, when its connection is detached, or when the queue closes.
 *
 * @example
 * ```ts
 * import { Queue } from "./queue.ts";
 * import { MemoryLog } from "./memory_log.ts";
 * import type { DurableSink } from "./sink.ts";
 * import assert from "node:assert/strict";
 *
 * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
 * const sink: DurableSink = {
 *   id: 1, closed: false, streamDeliver: () => true, queueDeliver() {}, onWritable: (wake) => wake(),
 * };
 * const consumer = queue.consume(sink, 7, 10);
 * assert.equal(consumer.sid, 7);
 * assert.equal(queue.info().consumers, 1);
 * consumer.close();
 * assert.equal(queue.info().consumers, 0);
 * await queue.close();
 * ```
 */
export class QueueConsumer {
  /** The subscription id its deliveries carry. */
  readonly sid: number;
  #release: (() => void) | undefined;

  /**
   * Made by {@linkcode Queue.consume}.
   *
   * @param sid The subscription id.
   * @param release Ends the consumer.
   */
  constructor(sid: number, release: () => void) {
    this.sid = sid;
    this.#release = release;
  }

  /** Stops deliveries; the messages it holds unacked are delivered again, at once. */
  close(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

/**
 * A work queue: messages stored in a {@linkcode DurableLog}, handed to
 * competing consumers, each message settled once.
 *
 * - **Enqueue** is synchronous: the message is copied and appended with the
 *   rest of the tick; its id is its offset in the messages log.
 * - **Dispatch**: push consumers ({@linkcode Queue.consume}) and waiting
 *   fetches ({@linkcode Queue.fetch}) share the messages round-robin, each
 *   holding at most its prefetch (a fetch: its `max`) unacked. Messages
 *   waiting for redelivery go before new ones. Bodies are read from the log
 *   a page at a time, so memory holds the bookkeeping of delivered,
 *   unsettled messages, not the queue.
 * - **Settlement** ({@linkcode Queue.settle}): an ack removes the message;
 *   a nack makes it ready again after a delay. A delivery not acked within
 *   `ackWaitMs` is delivered again. A message nacked or expired after
 *   `maxDeliver` deliveries is dead-lettered: stored unchanged in the
 *   `deadLetter` queue, or dropped with a warning when there is none.
 * - **State** is recorded in a second log (deliveries, acks, dead letters,
 *   purges; checkpoints keep it small). {@linkcode Queue.open} replays it:
 *   acked messages stay gone, every other one is delivered again, with its
 *   delivery count kept.
 *
 * @example Two messages, one consumer, two acks
 * ```ts
 * import { Queue } from "./queue.ts";
 * import { MemoryLog } from "./memory_log.ts";
 * import type { DurableSink } from "./sink.ts";
 * import { AckAction } from "../../protocol/frames.ts";
 * import assert from "node:assert/strict";
 *
 * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
 * const got: number[] = [];
 * const { promise: both, resolve } = Promise.withResolvers<void>();
 * const sink: DurableSink = {
 *   id: 1,
 *   closed: false,
 *   streamDeliver: () => true,
 *   queueDeliver(_sid, messageId) {
 *     got.push(messageId);
 *     if (got.length === 2) resolve();
 *   },
 *   onWritable: (wake) => wake(),
 * };
 * queue.consume(sink, 1, 10);
 * queue.enqueue(new Uint8Array([1]));
 * queue.enqueue(new Uint8Array([2]));
 * await both;
 * assert.deepEqual(got, [0, 1]);
 * for (const id of got) await queue.settle(sink, id, AckAction.Ack, 0);
 * assert.equal(queue.info().messages, 0);
 * await queue.close();
 * ```
 */
export class Queue implements AsyncDisposable {
  /** The queue's name. */
  readonly name: string;
  readonly #core: QueueCore;
  readonly #config: QueueConfig;

  private constructor(core: QueueCore, config: QueueConfig) {
    this.#core = core;
    this.#config = config;
    this.name = config.name;
  }

  /**
   * Opens a queue over its two logs: replays `state`, then serves. Every
   * message neither acked nor dead-lettered is ready, those delivered before
   * with their delivery counts.
   *
   * @param config The configuration, already validated, defaults filled in.
   * @param messages The messages log; the queue owns it and closes it.
   * @param state The state log; the queue owns it and closes it.
   * @param options The clock and how to find the dead-letter queue.
   * @returns The open queue.
   * @throws {MbError} `STORAGE_FAILED` when a log cannot be read or holds a
   * bad record (both logs are closed then).
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const messages = new MemoryLog();
   * await messages.append([new Uint8Array([1])]);
   * const queue = await Queue.open({ name: "jobs" }, messages, new MemoryLog());
   * assert.equal(queue.info().messages, 1);
   * await queue.close();
   * ```
   */
  static async open(
    config: QueueConfig,
    messages: DurableLog,
    state: DurableLog,
    options: QueueOptions = {},
  ): Promise<Queue> {
    const copy: QueueConfig = { ...config };
    if (config.topics !== undefined) copy.topics = [...config.topics];
    const resolveQueue = options.resolveQueue;
    const core = new QueueCore(
      copy,
      messages,
      state,
      options.now ?? Date.now,
      resolveQueue === undefined ? undefined : (name) => resolveQueue(name),
    );
    try {
      await core.recover();
    } catch (error) {
      await Promise.allSettled([messages.close(), state.close()]);
      if (error instanceof MbError) throw error;
      throw new MbError("STORAGE_FAILED", `Cannot open queue ${quote(config.name)}: ${error}`, {
        cause: error,
      });
    }
    return new Queue(core, copy);
  }

  /** A copy of the queue's configuration. */
  get config(): QueueConfig {
    const copy: QueueConfig = { ...this.#config };
    if (this.#config.topics !== undefined) copy.topics = [...this.#config.topics];
    return copy;
  }

  /** Bytes taken by {@linkcode Queue.enqueue} (and state records) not yet stored. */
  get pendingBytes(): number {
    return this.#core.pendingBytes;
  }

  /**
   * Stores a message: copies it and appends it with the other messages of
   * this tick. Hot path: synchronous, no promise per message.
   *
   * @param message The message section; only read during the call.
   * @param onStored Told the message's id (its offset in the messages log)
   * once stored, or the error with id -1: `STORAGE_FULL` when `maxBytes` is
   * set and the unsettled messages would pass it (or the log's disk quota
   * is reached), `STORAGE_FAILED`.
   * @throws {MbError} `INVALID_ARGUMENT` when `message` is not a `Uint8Array`.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs", maxBytes: 4 }, new MemoryLog(), new MemoryLog());
   * const results: (string | number)[] = [];
   * const record = (error: { code: string } | undefined, id: number) => {
   *   results.push(error?.code ?? id);
   * };
   * queue.enqueue(new Uint8Array(3), record);
   * queue.enqueue(new Uint8Array(3), record);
   * await queue.whenStored();
   * assert.deepEqual(results, ["STORAGE_FULL", 0]);
   * await queue.close();
   * ```
   */
  enqueue(message: Uint8Array, onStored?: StoredCallback): void {
    this.#core.enqueue(message, onStored);
  }

  /**
   * Waits until every message and state record taken so far is stored (or
   * failed).
   *
   * @returns A promise that resolves when nothing is pending.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * queue.enqueue(new Uint8Array([1]));
   * await queue.whenStored();
   * assert.equal(queue.pendingBytes, 0);
   * await queue.close();
   * ```
   */
  whenStored(): Promise<void> {
    return this.#core.whenStored();
  }

  /**
   * Attaches a push consumer: it is handed messages (from the next
   * microtask on) while it holds fewer than `prefetch` unacked.
   *
   * @param sink The connection; deliveries go to its `queueDeliver`.
   * @param sid The subscription id the deliveries carry.
   * @param prefetch Most unacked messages it holds, at least 1.
   * @returns The consumer; close it to stop.
   * @throws {MbError} `INVALID_ARGUMENT` for a bad `sid` or `prefetch`;
   * `STORAGE_FAILED` when the queue is closed.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import type { DurableSink } from "./sink.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * const sink: DurableSink = {
   *   id: 1, closed: false, streamDeliver: () => true, queueDeliver() {}, onWritable: (wake) => wake(),
   * };
   * assert.throws(() => queue.consume(sink, 1, 0), { code: "INVALID_ARGUMENT" });
   * queue.consume(sink, 1, 2);
   * for (let i = 0; i < 5; i++) queue.enqueue(new Uint8Array([i]));
   * await queue.whenStored();
   * assert.equal(queue.info().inFlight, 2);
   * await queue.close();
   * ```
   */
  consume(sink: DurableSink, sid: number, prefetch: number): QueueConsumer {
    return new QueueConsumer(sid, this.#core.consume(sink, sid, prefetch));
  }

  /**
   * Pulls messages (long poll): delivers up to `max` to `sink` with `sid`,
   * taking turns with the other consumers, and resolves as soon as at least
   * one was delivered and nothing more is ready, or `max` were, or `waitMs`
   * passed (with 0 when none came). It resolves at once with what it
   * delivered when the connection is detached or the queue closes. The
   * messages stay in flight until settled.
   *
   * @param sink The connection.
   * @param sid The subscription id the deliveries carry.
   * @param max Most messages, at least 1.
   * @param waitMs How long to wait for a first message; 0 returns what is
   * ready now.
   * @returns How many messages were delivered.
   * @throws {MbError} `INVALID_ARGUMENT` for a bad `sid`, `max` or `waitMs`.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import type { DurableSink } from "./sink.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * const sink: DurableSink = {
   *   id: 1, closed: false, streamDeliver: () => true, queueDeliver() {}, onWritable: (wake) => wake(),
   * };
   * const waiting = queue.fetch(sink, 1, 10, 5_000);
   * queue.enqueue(new Uint8Array([1]));
   * assert.equal(await waiting, 1);
   * assert.equal(await queue.fetch(sink, 1, 10, 0), 0);
   * await queue.close();
   * ```
   */
  fetch(sink: DurableSink, sid: number, max: number, waitMs: number): Promise<number> {
    return this.#core.fetch(sink, sid, max, waitMs);
  }

  /**
   * Acks or nacks a message in flight to `sink`. An ack resolves once its
   * record is stored (as durable as the state log's fsync policy makes it).
   * A nack makes the message ready again after `delayMs`, or dead-letters
   * it when it was delivered `maxDeliver` times.
   *
   * @param sink The connection that holds the message.
   * @param messageId The message's id.
   * @param action {@linkcode AckAction.Ack} or {@linkcode AckAction.Nack}.
   * @param delayMs For a nack, the wait before it is delivered again.
   * @returns A promise that resolves once settled.
   * @throws {MbError} `MESSAGE_UNKNOWN` unless the message is in flight to
   * this connection (unknown, already acked, or delivered elsewhere after
   * its deadline); `INVALID_ARGUMENT`; a storage code.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import type { DurableSink } from "./sink.ts";
   * import { AckAction } from "../../protocol/frames.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * const sink: DurableSink = {
   *   id: 1, closed: false, streamDeliver: () => true, queueDeliver() {}, onWritable: (wake) => wake(),
   * };
   * queue.enqueue(new Uint8Array([1]));
   * assert.equal(await queue.fetch(sink, 1, 1, 1_000), 1);
   * await queue.settle(sink, 0, AckAction.Ack, 0);
   * await assert.rejects(queue.settle(sink, 0, AckAction.Ack, 0), { code: "MESSAGE_UNKNOWN" });
   * await queue.close();
   * ```
   */
  settle(sink: DurableSink, messageId: number, action: AckAction, delayMs: number): Promise<void> {
    if (action !== AckAction.Ack && action !== AckAction.Nack) {
      return Promise.reject(
        new MbError(
          "INVALID_ARGUMENT",
          `Cannot settle in queue ${quote(this.name)}: action must be 0 (ack) or 1 (nack), got ${
            String(action)
          }`,
        ),
      );
    }
    return this.#core.settle(sink, messageId, action === AckAction.Nack, delayMs);
  }

  /**
   * A connection is gone: its consumers and fetches end, and every message
   * in flight to it is ready again at once (delivery counts kept).
   *
   * @param sink The connection.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import type { DurableSink } from "./sink.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * const sink: DurableSink = {
   *   id: 1, closed: false, streamDeliver: () => true, queueDeliver() {}, onWritable: (wake) => wake(),
   * };
   * queue.enqueue(new Uint8Array([1]));
   * assert.equal(await queue.fetch(sink, 1, 1, 1_000), 1);
   * queue.detach(sink);
   * assert.equal(queue.info().inFlight, 0);
   * assert.equal(queue.info().messages, 1);
   * await queue.close();
   * ```
   */
  detach(sink: DurableSink): void {
    this.#core.detach(sink);
  }

  /**
   * The configuration and the counts of the queue now.
   *
   * @returns The queue's info.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs", maxDeliver: 3 }, new MemoryLog(), new MemoryLog());
   * assert.deepEqual(queue.info(), {
   *   name: "jobs", maxDeliver: 3, messages: 0, inFlight: 0, consumers: 0, deadLettered: 0,
   * });
   * await queue.close();
   * ```
   */
  info(): QueueInfo {
    return { ...this.config, ...this.#core.counts() };
  }

  /**
   * Settles every stored message that is not in flight (they are gone, as
   * if acked); messages in flight stay until settled.
   *
   * @returns How many messages were dropped, once recorded.
   * @throws {MbError} A storage code when the records cannot be stored.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   * import assert from "node:assert/strict";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * for (let i = 0; i < 3; i++) queue.enqueue(new Uint8Array([i]));
   * await queue.whenStored();
   * assert.equal(await queue.purge(), 3);
   * assert.equal(queue.info().messages, 0);
   * await queue.close();
   * ```
   */
  purge(): Promise<number> {
    return this.#core.purge();
  }

  /**
   * Stops the timers, ends consumers and fetches, waits for what is being
   * stored, and closes both logs. Later calls return the same promise.
   *
   * @returns A promise that resolves once closed.
   *
   * @example
   * ```ts
   * import { Queue } from "./queue.ts";
   * import { MemoryLog } from "./memory_log.ts";
   *
   * const queue = await Queue.open({ name: "jobs" }, new MemoryLog(), new MemoryLog());
   * queue.enqueue(new Uint8Array([1]));
   * await queue.close();
   * ```
   */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** Same as {@linkcode Queue.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
