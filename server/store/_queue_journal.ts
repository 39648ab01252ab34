// Copyright mb authors. MIT license.

/**
 * The writer of a queue's state log: one small record per delivery,
 * settlement or purge, batched per tick, and a checkpoint now and then so
 * the log stays about as small as the state it describes.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { AppendBatcher, type StoredCallback } from "./_append_batcher.ts";
import {
  encodeDeliver,
  encodePurge,
  encodeSettle,
  type QueueImage,
  replayState,
} from "./_queue_records.ts";
import type { DurableLog } from "./durable_log.ts";

const logger = getLogger(["mb", "queue"]);

/** A checkpoint is considered once the log holds this many records... */
const COMPACT_RECORDS = 65_536;
/** ...or this many bytes; it is written when at most half the log's size. */
const COMPACT_BYTES = 1024 * 1024;
/** Larger states are not checkpointed (the log then grows with them). */
const MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024;

/** What a checkpoint is made of: the queue's state now. */
export interface CheckpointSource {
  /** Bytes the checkpoint would take. */
  checkpointSize(): number;
  /** The checkpoint record. */
  checkpoint(): Uint8Array;
}

/** The state log of one queue. */
export class QueueJournal {
  readonly #name: string;
  readonly #log: DurableLog;
  readonly #batcher: AppendBatcher;
  readonly #source: CheckpointSource;
  readonly #track: (task: Promise<unknown>) => void;
  #compacting = false;
  #closed = false;

  /**
   * @param name The queue's name, for logs.
   * @param log The state log.
   * @param source The state a checkpoint records.
   * @param now The clock that stamps records.
   * @param track Registers background work the queue waits for at close.
   */
  constructor(
    name: string,
    log: DurableLog,
    source: CheckpointSource,
    now: () => number,
    track: (task: Promise<unknown>) => void,
  ) {
    this.#name = name;
    this.#log = log;
    this.#source = source;
    this.#track = track;
    this.#batcher = new AppendBatcher(log, () => this.maybeCompact(), now);
  }

  /** Bytes of records not yet stored. */
  get pendingBytes(): number {
    return this.#batcher.pendingBytes;
  }

  /** Reads the whole log back. */
  replay(): Promise<QueueImage> {
    return replayState(this.#log);
  }

  /** Records one more delivery of `id`. */
  delivered(id: number): void {
    this.#batcher.add(encodeDeliver(id));
  }

  /** Records that `id` is settled; `done` once stored. */
  settled(id: number, done?: StoredCallback): void {
    this.#batcher.add(encodeSettle(id), done);
  }

  /** Records that every id in `[from, to)` is settled; `done` once stored. */
  purged(from: number, to: number, done?: StoredCallback): void {
    this.#batcher.add(encodePurge(from, to), done);
  }

  /** Resolves when every record so far is stored (or failed). */
  whenIdle(): Promise<void> {
    return this.#batcher.whenIdle();
  }

  /** Refuses further records and waits for those taken (the log stays open). */
  close(): Promise<void> {
    this.#closed = true;
    return this.#batcher.close();
  }

  /** Writes a checkpoint and drops the records before it, when worth it. */
  maybeCompact(): void {
    if (this.#compacting || this.#closed) return;
    const log = this.#log;
    if (log.recordCount < COMPACT_RECORDS && log.byteSize < COMPACT_BYTES) return;
    const size = this.#source.checkpointSize();
    if (size > MAX_CHECKPOINT_BYTES || size * 2 > log.byteSize) return;
    this.#track(this.compact());
  }

  /**
   * Writes a checkpoint of the state now and drops the records before it.
   * Never rejects: a failure is logged (the records stay, which is safe).
   */
  async compact(): Promise<void> {
    if (this.#compacting) return;
    this.#compacting = true;
    try {
      await this.#compact();
    } finally {
      this.#compacting = false;
    }
  }

  async #compact(): Promise<void> {
    try {
      // A fresh segment, so that dropping what precedes the checkpoint
      // frees whole segments.
      await this.#log.roll();
      const { promise, resolve, reject } = Promise.withResolvers<number>();
      // Taken now, the checkpoint covers every record added before it.
      this.#batcher.add(this.#source.checkpoint(), (error, offset) => {
        if (error !== undefined) reject(error);
        else resolve(offset);
      });
      await this.#log.removeBefore(await promise);
    } catch (error) {
      logger.warn("Queue {queue} cannot compact its state log: {error}", {
        queue: this.#name,
        error,
      });
    }
  }
}
