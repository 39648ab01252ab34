// Copyright mb authors. MIT license.

/**
 * The one queue that serializes a segment log's writes: appends that wait
 * together go to disk together (group commit), flushes sync after them, and
 * tasks (retention, truncation, rolls, close) run alone in call order. Under
 * `fsync: "interval"` a timer queues a sync.
 *
 * @module
 */

import { MbError } from "../../protocol/errors.ts";
import { storageError } from "./_errors.ts";
import type { LogFiles, PendingAppend } from "./_log_files.ts";
import type { SegmentLogAppended } from "./_types.ts";

interface AppendOp extends PendingAppend {
  kind: 0;
}

interface FlushOp {
  kind: 1;
  resolve: (value: void) => void;
  reject: (reason: unknown) => void;
}

interface TaskOp {
  kind: 2;
  // deno-lint-ignore no-explicit-any
  run: () => Promise<any>;
  // deno-lint-ignore no-explicit-any
  resolve: (value: any) => void;
  reject: (reason: unknown) => void;
}

type Op = AppendOp | FlushOp | TaskOp;

/** The write queue of one open log; see the module documentation. */
export class WriteQueue {
  readonly #files: LogFiles;
  #closed = false;
  #closing: Promise<void> | undefined;
  #queue: Op[] = [];
  #draining = false;
  #syncQueued = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** A queue for `files`; under `fsync: "interval"` it syncs every `fsyncIntervalMs`. */
  constructor(files: LogFiles, fsyncIntervalMs = 1000) {
    this.#files = files;
    if (files.fsync === "interval") {
      const timer = setInterval(() => this.#syncSoon(), fsyncIntervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The error for `action` on a closed log. */
  closedError(action: string): MbError {
    return new MbError(
      "STORAGE_FAILED",
      `Cannot ${action} segment log "${this.#files.dir}": it is closed`,
    );
  }

  /** Queues a checked batch of `size` bytes on disk; see `SegmentLog.append`. */
  append(bodies: Uint8Array[], timestamp: number, size: number): Promise<SegmentLogAppended> {
    const { promise, resolve, reject } = Promise.withResolvers<SegmentLogAppended>();
    this.#queue.push({ kind: 0, bodies, timestamp, size, resolve, reject });
    this.#kick();
    return promise;
  }

  /** Queues a sync of everything queued before; see `SegmentLog.flush`. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(this.closedError("flush"));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ kind: 1, resolve, reject });
    this.#kick();
    return promise;
  }

  /**
   * Queues `run` to run alone, after what is queued; its failure becomes a
   * `STORAGE_FAILED` error saying `action` failed.
   */
  task<T>(action: string, run: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.closedError(action));
    return this.#enqueueTask(async () => {
      try {
        return await run();
      } catch (err) {
        throw storageError(`Cannot ${action} segment log "${this.#files.dir}"`, err);
      }
    });
  }

  /** Closes the log after what is queued; see `SegmentLog.close`. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const files = this.#files;
    this.#closing = this.#enqueueTask(async () => {
      try {
        if (files.failed === undefined) await files.sync();
      } finally {
        files.close();
      }
    });
    return this.#closing;
  }

  #enqueueTask<T>(run: () => Promise<T>): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.#queue.push({ kind: 2, run, resolve, reject });
    this.#kick();
    return promise;
  }

  /** Timer callback under "interval": queue one sync if anything is unsynced. */
  #syncSoon(): void {
    const files = this.#files;
    if (!files.dirty || this.#syncQueued || this.#closed || files.failed !== undefined) return;
    this.#syncQueued = true;
    this.#queue.push({
      kind: 1,
      resolve: () => {},
      reject: () => {}, // The log is marked failed; appends will say so.
    });
    this.#kick();
  }

  #kick(): void {
    if (this.#draining) return;
    this.#draining = true;
    queueMicrotask(() => void this.#drain());
  }

  async #drain(): Promise<void> {
    const queue = this.#queue;
    while (queue.length > 0) {
      if (queue[0].kind === 2) {
        const op = queue.shift() as TaskOp;
        try {
          op.resolve(await op.run());
        } catch (err) {
          op.reject(err);
        }
        continue;
      }
      let n = 1;
      while (n < queue.length && queue[n].kind !== 2) n++;
      await this.#writeRun(queue.splice(0, n) as (AppendOp | FlushOp)[]);
    }
    this.#draining = false;
  }

  /** Writes a run of appends, then syncs for its flushes; settles every op, never throws. */
  async #writeRun(run: (AppendOp | FlushOp)[]): Promise<void> {
    const appends: AppendOp[] = [];
    const flushes: FlushOp[] = [];
    for (let i = 0; i < run.length; i++) {
      const op = run[i];
      if (op.kind === 0) appends.push(op);
      else flushes.push(op);
    }
    const files = this.#files;
    if (appends.length > 0) await files.write(appends);
    if (flushes.length > 0) {
      this.#syncQueued = false;
      try {
        if (files.failed !== undefined) throw files.failed;
        await files.sync();
        for (let k = 0; k < flushes.length; k++) flushes[k].resolve();
      } catch (err) {
        for (let k = 0; k < flushes.length; k++) flushes[k].reject(err);
      }
    }
  }
}
