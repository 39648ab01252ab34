// Copyright mb authors. MIT license.

/**
 * The dispatch loop of a queue: hands messages to takers round-robin,
 * redeliveries first, then new messages from a page read from the log (or
 * adopted from appends); one read at a time, synchronous otherwise. It also
 * watches ack deadlines.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DeadLetters } from "./_queue_dead_letter.ts";
import type { QueueJournal } from "./_queue_journal.ts";
import { DeadlineSweeper, Fifo, monotonicNow, type Tasks } from "./_queue_lists.ts";
import { readRecords } from "./_queue_read.ts";
import { PAGE_BYTES, PAGE_RECORDS, type QueueState } from "./_queue_state.ts";
import type { Flight, Takers, Waiting } from "./_queue_takers.ts";
import type { LogRecord } from "./_types.ts";
import type { DurableLog } from "./durable_log.ts";
import type { DurableSink } from "./sink.ts";

const logger = getLogger(["mb", "queue"]);

/** Most messages waiting for redelivery read from the log at once. */
const READY_BATCH = 256;
/** Wait before retrying a failed read. */
const RETRY_MS = 1000;

/** What the dispatch loop works with: the parts of its queue. */
export interface DispatchHost {
  /** The queue's name, for logs. */
  readonly name: string;
  /** Deliveries after which a message is dead-lettered. */
  readonly maxDeliver: number;
  /** Time a delivery has to be acked. */
  readonly ackWaitMs: number;
  /** The messages log. */
  readonly messages: DurableLog;
  /** Positions and counts. */
  readonly state: QueueState;
  /** Consumers, fetches and deliveries in flight. */
  readonly takers: Takers;
  /** The state log. */
  readonly journal: QueueJournal;
  /** Dead-lettering. */
  readonly deadLetters: DeadLetters;
  /** Background work. */
  readonly tasks: Tasks;
  /** Settles a message that is missing from the log. */
  settle(id: number, size: number): void;
  /** Whether the queue is closing. */
  closing(): boolean;
}

/** The dispatch loop of one queue. */
export class Dispatcher {
  /** Messages ready for redelivery, in order. */
  readonly ready: Fifo<Waiting> = new Fifo();
  /** Messages taken from `ready` whose bodies are being read. */
  loading: Waiting[] = [];
  readonly #host: DispatchHost;
  readonly #sweeper: DeadlineSweeper<Flight>;
  #reading = false;
  #running = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Connections whose drain this dispatcher waits for. */
  #waitingSinks = new Set<DurableSink>();

  /** @param host The queue. */
  constructor(host: DispatchHost) {
    this.#host = host;
    this.#sweeper = new DeadlineSweeper(
      (flight) => host.takers.flights.get(flight.id) === flight,
      (expired) => this.#expire(expired),
    );
  }

  /** Whether a read of the messages log is in flight. */
  get reading(): boolean {
    return this.#reading;
  }

  /** Stops the timers (the queue is closing). */
  stop(): void {
    this.#sweeper.stop();
    clearTimeout(this.#retryTimer);
  }

  /** Makes messages taken back from takers ready again, at once. */
  requeue(flights: Flight[]): void {
    for (let i = 0; i < flights.length; i++) {
      this.ready.push({ id: flights[i].id, size: flights[i].size, due: 0 });
    }
  }

  /**
   * Hands out what is ready, round-robin, until no taker has room or
   * nothing is ready (then ends the fetches that are done); starts a read
   * and returns when bodies are needed. Calls made while it runs return at
   * once: the running loop sees their effect.
   */
  run(): void {
    if (this.#running || this.#reading || this.#retryTimer !== undefined) return;
    const host = this.#host;
    if (host.closing()) return;
    this.#running = true;
    try {
      const s = host.state;
      const takers = host.takers;
      for (;;) {
        const index = takers.pick();
        if (index < 0) {
          this.#waitForRoom();
          break;
        }
        if (this.ready.length > 0) return this.#loadReady();
        if (s.hasPage()) {
          const record = s.nextFromPage();
          if (record !== undefined) this.#deliverNew(index, record);
          continue;
        }
        if (s.pageEnd < s.stored) return this.#loadPage();
        break;
      }
      takers.finishIdleFetches();
    } finally {
      this.#running = false;
    }
  }

  /**
   * Takers with room whose connection's outbound buffer is full get nothing
   * now; dispatch runs again when such a connection drains.
   */
  #waitForRoom(): void {
    const list = this.#host.takers.list;
    for (let i = 0; i < list.length; i++) {
      const sink = list[i].sink;
      const taker = list[i];
      if (sink.full !== true || sink.closed || taker.held >= taker.limit) continue;
      if (this.#waitingSinks.has(sink)) continue;
      this.#waitingSinks.add(sink);
      sink.onWritable(() => {
        this.#waitingSinks.delete(sink);
        this.run();
      });
    }
  }

  #deliverNew(index: number, record: LogRecord): void {
    const s = this.#host.state;
    const id = record.offset;
    const size = record.body.length;
    const prior = s.takeAhead(id);
    s.outBytes += size;
    if (prior >= this.#host.maxDeliver) {
      // Delivered maxDeliver times before a restart, never acked.
      s.counts.set(id, prior);
      void this.#host.deadLetters.send(id, size, record.body);
      return;
    }
    this.#deliver(index, id, prior + 1, size, record);
  }

  #deliver(index: number, id: number, count: number, size: number, record: LogRecord): void {
    const host = this.#host;
    const takers = host.takers;
    host.state.counts.set(id, count);
    host.journal.delivered(id);
    const taker = takers.list[index];
    const flight: Flight = { id, taker, count, size, deadline: monotonicNow() + host.ackWaitMs };
    takers.delivered(index, flight);
    this.#sweeper.add(flight, takers.flights.size);
    taker.sink.queueDeliver(taker.sid, id, count, record.timestamp, record.body);
    if (taker.fetch && taker.held >= taker.limit) takers.finishFetch(taker);
  }

  #loadReady(): void {
    const batch: Waiting[] = [];
    while (batch.length < READY_BATCH && this.ready.length > 0) batch.push(this.ready.shift()!);
    this.loading = batch;
    const ids = batch.map((entry) => entry.id).sort((a, b) => a - b);
    this.#read(
      readRecords(this.#host.messages, ids),
      (records) => this.#deliverLoaded(batch, records),
      () => this.ready.unshiftAll(batch),
    );
  }

  #deliverLoaded(batch: Waiting[], records: Map<number, LogRecord>): void {
    const host = this.#host;
    const counts = host.state.counts;
    for (let k = 0; k < batch.length; k++) {
      const entry = batch[k];
      const count = counts.get(entry.id);
      if (count === undefined) continue; // purged meanwhile
      const record = records.get(entry.id);
      if (record === undefined) {
        logger.warn("Queue {queue} lost message {id}: it is no longer in its log", {
          queue: host.name,
          id: entry.id,
        });
        host.settle(entry.id, entry.size);
        continue;
      }
      if (count >= host.maxDeliver) {
        void host.deadLetters.send(entry.id, entry.size, record.body);
        continue;
      }
      const index = host.takers.pick();
      if (index < 0) {
        this.ready.unshiftAll(batch.slice(k));
        this.#waitForRoom();
        return;
      }
      this.#deliver(index, entry.id, count + 1, entry.size, record);
    }
  }

  #loadPage(): void {
    const host = this.#host;
    const s = host.state;
    const epoch = s.epoch;
    const from = s.pageEnd;
    this.#read(
      host.messages.read(from, { maxRecords: PAGE_RECORDS, maxBytes: PAGE_BYTES }),
      (records) => {
        if (epoch !== s.epoch || from !== s.pageEnd) return; // purged meanwhile
        if (!s.setPage(records)) {
          logger.warn("Queue {queue} found no messages from {from} to {to}: skipped", {
            queue: host.name,
            from,
            to: s.stored,
          });
          s.skipMissing();
        }
      },
      () => {},
    );
  }

  /** Runs one read; `use` its result and go on, or `undo` and retry later. */
  #read<T>(read: Promise<T>, use: (value: T) => void, undo: () => void): void {
    this.#reading = true;
    const host = this.#host;
    host.tasks.track(read.then((value) => {
      this.#reading = false;
      this.loading = [];
      if (host.closing()) return;
      this.#running = true;
      try {
        use(value);
      } finally {
        this.#running = false;
      }
      this.run();
    }, (error) => {
      this.#reading = false;
      undo();
      this.loading = [];
      if (host.closing()) return;
      logger.error("Queue {queue} cannot read its messages, retrying: {error}", {
        queue: host.name,
        error,
      });
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.run();
      }, RETRY_MS);
    }));
  }

  #expire(expired: Flight[]): void {
    const host = this.#host;
    for (const flight of expired) {
      host.takers.land(flight);
      if (flight.count >= host.maxDeliver) void host.deadLetters.send(flight.id, flight.size);
      else this.ready.push({ id: flight.id, size: flight.size, due: 0 });
    }
    this.run();
  }
}
