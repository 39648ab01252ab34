// Copyright mb authors. MIT license.

/**
 * The engine behind `Queue` (which documents the behaviour): checks the
 * calls, settles, purges, recovers from the state log, and ties together
 * the dispatch loop, the journal and dead-lettering.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { quote } from "../../protocol/_text.ts";
import type { QueueConfig } from "../../protocol/durable.ts";
import { MbError } from "../../protocol/errors.ts";
import { AppendBatcher, type StoredCallback } from "./_append_batcher.ts";
import { DeadLetters, type DeadLetterTarget } from "./_queue_dead_letter.ts";
import { QueueJournal } from "./_queue_journal.ts";
import { Dispatcher } from "./_queue_dispatch.ts";
import { DelayList, monotonicNow, Tasks } from "./_queue_lists.ts";
import { measureBelow } from "./_queue_read.ts";
import { QueueState } from "./_queue_state.ts";
import { newTaker, Takers, type Waiting } from "./_queue_takers.ts";
import { RECORD_HEADER_BYTES } from "./_record.ts";
import type { DurableLog } from "./durable_log.ts";
import type { DurableSink } from "./sink.ts";

export type { DeadLetterTarget } from "./_queue_dead_letter.ts";

const logger = getLogger(["mb", "queue"]);

/** Settlements between two trims of the messages log below the floor. */
const TRIM_EVERY = 1024;
/** Wait before retrying a failed dead-lettering. */
const RETRY_MS = 1000;
const MAX_TIMER_MS = 0x7fffffff;

/** The engine of one queue; `Queue` wraps it. */
export class QueueCore {
  readonly name: string;
  readonly #maxDeliver: number;
  readonly #maxBytes: number;
  readonly #messages: DurableLog;
  readonly #stateLog: DurableLog;
  readonly #batcher: AppendBatcher;
  readonly #journal: QueueJournal;
  readonly #deadLetters: DeadLetters;
  readonly #s = new QueueState();
  readonly #takers = new Takers();
  readonly #dispatcher: Dispatcher;
  readonly #delayed: DelayList<Waiting>;
  readonly #tasks = new Tasks();
  #settles = 0;
  #trimmedTo = 0;
  #closing: Promise<void> | undefined;

  constructor(
    config: QueueConfig,
    messages: DurableLog,
    state: DurableLog,
    now: () => number,
    resolveQueue: ((name: string) => DeadLetterTarget | undefined) | undefined,
  ) {
    this.name = config.name;
    this.#maxDeliver = config.maxDeliver ?? 5;
    this.#maxBytes = config.maxBytes ?? 0;
    this.#messages = messages;
    this.#stateLog = state;
    this.#batcher = new AppendBatcher(messages, (first, bodies, timestamp) => {
      const adopt = !this.#dispatcher.reading && this.#takers.list.length > 0;
      this.#s.appended(first, bodies, timestamp, adopt);
      this.#dispatcher.run();
    }, now);
    const track = (task: Promise<unknown>) => this.#tasks.track(task);
    this.#journal = new QueueJournal(config.name, state, this.#s, now, track);
    this.#deadLetters = new DeadLetters({
      name: config.name,
      maxDeliver: this.#maxDeliver,
      deadLetter: config.deadLetter,
      messages,
      resolveQueue,
      settle: (id, size, done) => this.#settle(id, size, done),
      retry: (id, size) => {
        if (!this.#closing) this.#delayed.add({ id, size, due: monotonicNow() + RETRY_MS });
      },
      track,
    });
    this.#dispatcher = new Dispatcher({
      name: config.name,
      maxDeliver: this.#maxDeliver,
      ackWaitMs: config.ackWaitMs ?? 30_000,
      messages,
      state: this.#s,
      takers: this.#takers,
      journal: this.#journal,
      deadLetters: this.#deadLetters,
      tasks: this.#tasks,
      settle: (id, size) => this.#settle(id, size),
      closing: () => this.#closing !== undefined,
    });
    this.#delayed = new DelayList((due) => {
      for (let i = 0; i < due.length; i++) this.#dispatcher.ready.push(due[i]);
      this.#dispatcher.run();
    });
  }

  /** Replays the state log; every unsettled message becomes ready. */
  async recover(): Promise<void> {
    const image = await this.#journal.replay();
    const log = this.#messages;
    const s = this.#s;
    const { ready: redeliver, clamped } = s.restore(image, log.firstOffset, log.nextOffset);
    if (clamped) {
      logger.warn("Queue {queue} state names messages its log does not hold: rewritten", {
        queue: this.name,
      });
      await this.#journal.compact();
    }
    const floor = s.floor();
    if (floor > log.firstOffset) await log.removeBefore(floor);
    this.#trimmedTo = floor;
    let sizes: Map<number, number> | undefined;
    if (this.#maxBytes > 0) {
      // Bytes held: those of the messages from the cursor on, and those of
      // the delivered ones below it that wait for redelivery.
      const below = await measureBelow(log, s.cursor, new Set(redeliver));
      sizes = below.sizes;
      for (const size of sizes.values()) s.outBytes += size;
      s.tailBytes = log.byteSize - RECORD_HEADER_BYTES * log.recordCount - below.bytes;
    }
    for (const id of redeliver) {
      this.#dispatcher.ready.push({ id, size: sizes?.get(id) ?? 0, due: 0 });
    }
    this.#journal.maybeCompact();
  }

  get pendingBytes(): number {
    return this.#batcher.pendingBytes + this.#journal.pendingBytes;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  enqueue(message: Uint8Array, onStored?: StoredCallback): void {
    if (!(message instanceof Uint8Array)) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Cannot enqueue into queue ${quote(this.name)}: the message is not bytes`,
      );
    }
    const max = this.#maxBytes;
    if (max > 0) {
      const held = this.#s.heldBytes() + this.#batcher.pendingBytes;
      if (held + message.length > max) {
        onStored?.(
          new MbError(
            "STORAGE_FULL",
            `Cannot enqueue ${message.length} bytes into queue ${
              quote(this.name)
            }: it holds ${held} bytes and maxBytes is ${max}`,
          ),
          -1,
        );
        return;
      }
    }
    this.#batcher.add(message, onStored);
  }

  async whenStored(): Promise<void> {
    await Promise.all([this.#batcher.whenIdle(), this.#journal.whenIdle()]);
  }

  /** Attaches a push consumer; returns what ends it. */
  consume(sink: DurableSink, sid: number, prefetch: number): () => void {
    this.#check("consume from", "sid", sid, 0);
    this.#check("consume from", "prefetch", prefetch, 1);
    if (this.#closing) throw this.#closed("consume from");
    const taker = newTaker(sink, sid, prefetch, false);
    const release = () => {
      this.#dispatcher.requeue(this.#takers.release(taker));
      this.#dispatcher.run();
    };
    if (sink.closed) {
      taker.active = false;
      return release;
    }
    this.#takers.add(taker);
    // Deliveries start after the caller has answered the consume request.
    queueMicrotask(() => this.#dispatcher.run());
    return release;
  }

  fetch(sink: DurableSink, sid: number, max: number, waitMs: number): Promise<number> {
    try {
      this.#check("fetch from", "sid", sid, 0);
      this.#check("fetch from", "max", max, 1);
      this.#check("fetch from", "waitMs", waitMs, 0);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing || sink.closed) return Promise.resolve(0);
    const { promise, resolve } = Promise.withResolvers<number>();
    const taker = newTaker(sink, sid, max, true, waitMs === 0);
    taker.resolve = resolve;
    this.#takers.add(taker);
    if (waitMs > 0) {
      taker.timer = setTimeout(
        () => this.#takers.finishFetch(taker),
        Math.min(waitMs, MAX_TIMER_MS),
      );
    }
    this.#dispatcher.run();
    return promise;
  }

  settle(sink: DurableSink, messageId: number, nack: boolean, delayMs: number): Promise<void> {
    try {
      this.#check("settle in", "messageId", messageId, 0);
      if (nack) this.#check("settle in", "delayMs", delayMs, 0);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing) return Promise.reject(this.#closed("settle in"));
    const flight = this.#takers.flights.get(messageId);
    if (flight === undefined || flight.taker.sink !== sink) {
      return Promise.reject(
        new MbError(
          "MESSAGE_UNKNOWN",
          `Cannot settle message ${messageId} of queue ${
            quote(this.name)
          }: it is not in flight to this connection`,
        ),
      );
    }
    this.#takers.land(flight);
    let done: Promise<void>;
    if (!nack) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      this.#settle(messageId, flight.size, (error) => error ? reject(error) : resolve());
      done = promise;
    } else if (flight.count >= this.#maxDeliver) {
      done = this.#deadLetters.send(messageId, flight.size);
    } else {
      const waiting = { id: messageId, size: flight.size, due: monotonicNow() + delayMs };
      if (delayMs > 0) this.#delayed.add(waiting);
      else this.#dispatcher.ready.push(waiting);
      done = Promise.resolve();
    }
    this.#dispatcher.run();
    return done;
  }

  detach(sink: DurableSink): void {
    this.#dispatcher.requeue(this.#takers.detach(sink));
    this.#dispatcher.run();
  }

  counts(): { messages: number; inFlight: number; consumers: number; deadLettered: number } {
    return {
      messages: this.#s.unsettled(),
      inFlight: this.#takers.flights.size,
      consumers: this.#takers.list.length,
      deadLettered: this.#deadLetters.count,
    };
  }

  purge(): Promise<number> {
    if (this.#closing) return Promise.reject(this.#closed("purge"));
    const s = this.#s;
    let purged = 0;
    let waiting = 1;
    let failure: MbError | undefined;
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const done = (error: MbError | undefined) => {
      failure ??= error;
      if (--waiting > 0) return;
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      const floor = s.floor();
      if (floor > this.#trimmedTo) this.#trim(floor);
      resolve(purged);
    };
    const drop = (entries: Waiting[]) => {
      for (const entry of entries) {
        if (!s.isOut(entry.id)) continue;
        purged++;
        waiting++;
        this.#settle(entry.id, entry.size, done);
      }
    };
    drop(this.#dispatcher.ready.drain());
    drop(this.#delayed.drain());
    drop(this.#dispatcher.loading);
    const tail = s.purgeTail();
    purged += tail.purged;
    if (tail.to > tail.from) {
      waiting++;
      this.#journal.purged(tail.from, tail.to, done);
    }
    // What stays unsettled: messages in flight and those being dead-lettered.
    let out = 0;
    for (const flight of this.#takers.flights.values()) out += flight.size;
    s.outBytes = out + this.#deadLetters.bytes();
    done(undefined);
    return promise;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#dispatcher.stop();
    this.#delayed.stop();
    this.#takers.closeAll();
    await this.#tasks.drain();
    const results = await Promise.allSettled([this.#batcher.close(), this.#journal.close()]);
    await this.#tasks.drain();
    results.push(...await Promise.allSettled([this.#messages.close(), this.#stateLog.close()]));
    for (const result of results) {
      if (result.status === "rejected") throw result.reason;
    }
  }

  // --- Settlement ---------------------------------------------------------

  /** Marks a message settled and records it; `done` once stored. */
  #settle(id: number, size: number, done?: (error: MbError | undefined) => void): void {
    const s = this.#s;
    s.counts.delete(id);
    s.outBytes -= size;
    const trimTo = ++this.#settles % TRIM_EVERY === 0 ? s.floor() : -1;
    this.#journal.settled(id, (error) => {
      if (error === undefined && trimTo > this.#trimmedTo) this.#trim(trimTo);
      done?.(error);
    });
  }

  /** Drops messages below `to` from the messages log (all settled, and recorded so). */
  #trim(to: number): void {
    if (this.#closing) return;
    this.#trimmedTo = to;
    this.#tasks.track(
      this.#messages.removeBefore(to).catch((error) => {
        logger.warn("Queue {queue} cannot drop settled messages: {error}", {
          queue: this.name,
          error,
        });
      }),
    );
  }

  #check(action: string, field: string, value: unknown, min: number): void {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Cannot ${action} queue ${
          quote(this.name)
        }: ${field} must be an integer of at least ${min}, got ${String(value)}`,
      );
    }
  }

  #closed(action: string): MbError {
    return new MbError(
      "STORAGE_FAILED",
      `Cannot ${action} queue ${quote(this.name)}: it is closed`,
    );
  }
}
