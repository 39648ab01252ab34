// Copyright mb authors. MIT license.

/**
 * The files of an open segment log: the list of segments and the active
 * file, appends written at its end (grouped under the quota, rolled by size
 * and age), syncs under the fsync policy, deletion of old segments, and the
 * failure state. Callers serialize every call but the getters through
 * `_write_queue.ts`.
 *
 * @module
 */

import { MbError } from "../../protocol/errors.ts";
import { storageError } from "./_errors.ts";
import { recoverSegments } from "./_recover.ts";
import { Segment, type SegmentBatch, syncDir } from "./_segment.ts";
import type {
  SegmentLogAppended,
  SegmentLogFsync,
  SegmentLogOptions,
  SegmentLogRemoved,
} from "./_types.ts";

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_INDEX_INTERVAL_BYTES = 4096;
/** A write coalesces queued batches up to this size (one batch may be larger). */
const MAX_WRITE_BYTES = 8 * 1024 * 1024;

/** A checked batch waiting to be written, and its promise's settlers. */
export interface PendingAppend extends SegmentBatch {
  /** Bytes it takes on disk, headers included. */
  size: number;
  /** Settles the append with the offsets given to its records. */
  resolve: (value: SegmentLogAppended) => void;
  /** Settles the append with an error. */
  reject: (reason: unknown) => void;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) {
    const wrote = await file.write(bytes.subarray(n));
    if (wrote <= 0) throw new Error(`write returned ${wrote} with ${bytes.length - n} bytes left`);
    n += wrote;
  }
}

/** The segment files of an open log and the writes to them; see the module documentation. */
export class LogFiles {
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #segmentMaxAgeMs: number;
  readonly #maxBytesOnDisk: number;
  /** When it calls `fdatasync`. */
  readonly fsync: SegmentLogFsync;
  /** Distance in bytes between index entries. */
  readonly indexInterval: number;
  /** The clock, in milliseconds since the epoch. */
  readonly now: () => number;
  /** Oldest first; replaced, never mutated, so a read can hold a snapshot. */
  #segments: readonly Segment[] = [];
  #file: Deno.FsFile | undefined;
  #records = 0;
  #bytes = 0;
  #dirty = false;
  /** Under "never": rolled segments and a directory not synced since. */
  #unsyncedPaths: string[] = [];
  #dirDirty = false;
  #failed: MbError | undefined;

  private constructor(dir: string, options: SegmentLogOptions) {
    this.#dir = dir;
    this.#segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.#segmentMaxAgeMs = options.segmentMaxAgeMs ?? Infinity;
    this.fsync = options.fsync ?? "interval";
    this.indexInterval = options.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES;
    this.#maxBytesOnDisk = options.maxBytesOnDisk ?? Infinity;
    this.now = options.now ?? Date.now;
  }

  /** Opens and recovers the log in `dir` with checked `options`. */
  static async open(dir: string, options: SegmentLogOptions): Promise<LogFiles> {
    const files = new LogFiles(dir, options);
    try {
      const { segments, file } = await recoverSegments(
        dir,
        files.indexInterval,
        files.fsync !== "never",
        options.onRecover,
      );
      files.#segments = segments;
      files.#file = file;
    } catch (err) {
      throw storageError(`Cannot open segment log "${dir}"`, err);
    }
    for (const seg of files.#segments) {
      files.#records += seg.count;
      files.#bytes += seg.size;
    }
    return files;
  }

  /** The log's directory. */
  get dir(): string {
    return this.#dir;
  }

  /** The segments, oldest first; replaced, never mutated, so a read can hold a snapshot. */
  get segments(): readonly Segment[] {
    return this.#segments;
  }

  /** Number of readable records. */
  get records(): number {
    return this.#records;
  }

  /** Bytes of readable records. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Offset of the oldest record; {@linkcode nextOffset} when there is none. */
  get firstOffset(): number {
    const segments = this.#segments;
    for (let i = 0; i < segments.length; i++) {
      if (segments[i].count > 0) return segments[i].base;
    }
    return this.nextOffset;
  }

  /** Offset the next record will get. */
  get nextOffset(): number {
    const active = this.#active();
    return active.base + active.count;
  }

  /** Whether the active file has writes not synced yet. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Why the log failed, if it did: appends reject until it is reopened. */
  get failed(): MbError | undefined {
    return this.#failed;
  }

  /**
   * Writes `appends` in order, as few groups as the segment size and the
   * write size allow, each with one write (and one sync under "always"),
   * rolling first when the active segment is due. Settles every append,
   * never throws.
   */
  async write(appends: PendingAppend[]): Promise<void> {
    let i = 0;
    while (i < appends.length) {
      if (this.#failed !== undefined) {
        for (; i < appends.length; i++) appends[i].reject(this.#failed);
        break;
      }
      const needRoll = this.#shouldRoll();
      const start = needRoll ? 0 : this.#active().size;
      const group: PendingAppend[] = [];
      let bytes = 0;
      while (i < appends.length) {
        const op = appends[i];
        if (group.length > 0 && (start + bytes >= this.#segmentBytes || bytes >= MAX_WRITE_BYTES)) {
          break;
        }
        i++;
        if (this.#bytes + bytes + op.size > this.#maxBytesOnDisk) {
          op.reject(
            new MbError(
              "STORAGE_FULL",
              `Cannot append ${op.size} bytes to segment log "${this.#dir}": ` +
                `maxBytesOnDisk ${this.#maxBytesOnDisk} would be exceeded (${this.#bytes} in use)`,
            ),
          );
          continue;
        }
        group.push(op);
        bytes += op.size;
      }
      if (group.length === 0) continue;
      if (needRoll) {
        try {
          await this.#roll();
        } catch (err) {
          const error = storageError(`Cannot append to segment log "${this.#dir}"`, err);
          for (let k = 0; k < group.length; k++) group[k].reject(error);
          continue;
        }
      }
      await this.#writeGroup(group, bytes);
    }
  }

  /** Rolls the active segment if it holds any record. */
  async seal(): Promise<void> {
    if (this.#active().count > 0) await this.#roll();
  }

  /** Closes the active file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Deletes sealed segments from the oldest while `remove` says so. */
  async removeOldest(remove: (seg: Segment) => boolean): Promise<SegmentLogRemoved> {
    const removed = { segments: 0, records: 0, bytes: 0, firstOffset: 0 };
    while (this.#segments.length > 1 && remove(this.#segments[0])) {
      const seg = this.#segments[0];
      // Drop it from the list first, so reads that start now skip it; reads
      // already in it get NotFound and retry.
      this.#segments = this.#segments.slice(1);
      this.#records -= seg.count;
      this.#bytes -= seg.size;
      removed.segments++;
      removed.records += seg.count;
      removed.bytes += seg.size;
      try {
        await Deno.remove(seg.path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    removed.firstOffset = this.firstOffset;
    return removed;
  }

  #active(): Segment {
    return this.#segments[this.#segments.length - 1];
  }

  #shouldRoll(): boolean {
    const active = this.#active();
    return active.count > 0 &&
      (active.size >= this.#segmentBytes ||
        this.now() - active.firstTimestamp >= this.#segmentMaxAgeMs);
  }

  /** Encodes `group` into one buffer, writes it, syncs under "always", then publishes it. */
  async #writeGroup(group: PendingAppend[], bytes: number): Promise<void> {
    const seg = this.#active();
    const file = this.#file as Deno.FsFile;
    let records = 0;
    for (let k = 0; k < group.length; k++) records += group[k].bodies.length;
    if (seg.base + seg.count + records > Number.MAX_SAFE_INTEGER) {
      const error = new MbError(
        "STORAGE_FAILED",
        `Cannot append to segment log "${this.#dir}": offsets past 2^53 - 1`,
      );
      for (let k = 0; k < group.length; k++) group[k].reject(error);
      return;
    }
    const write = seg.encode(group, bytes, this.indexInterval);
    if (bytes > 0) {
      try {
        await writeAll(file, write.bytes);
        this.#dirty = true;
      } catch (err) {
        const error = storageError(`Cannot append to segment log "${this.#dir}"`, err);
        try {
          await file.truncate(write.position);
        } catch (cutErr) {
          this.#fail(cutErr);
        }
        for (let k = 0; k < group.length; k++) group[k].reject(error);
        return;
      }
      if (this.fsync === "always") {
        try {
          await this.sync();
        } catch (err) {
          for (let k = 0; k < group.length; k++) group[k].reject(err);
          return;
        }
      }
    }
    // Publish: from here readers see the records.
    seg.commit(write);
    this.#records += write.records;
    this.#bytes += bytes;
    let first = seg.base + write.startCount;
    for (let k = 0; k < group.length; k++) {
      const n = group[k].bodies.length;
      group[k].resolve({ first, last: first + n - 1 });
      first += n;
    }
  }

  /** Syncs whatever is unsynced: the active file, and under "never" rolled files and the directory. */
  async sync(): Promise<void> {
    try {
      if (this.#dirty) {
        await (this.#file as Deno.FsFile).syncData();
        this.#dirty = false;
      }
      while (this.#unsyncedPaths.length > 0) {
        try {
          const file = await Deno.open(this.#unsyncedPaths[0], { read: true });
          try {
            await file.syncData();
          } finally {
            file.close();
          }
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
        this.#unsyncedPaths.shift();
      }
      if (this.#dirDirty) {
        await syncDir(this.#dir);
        this.#dirDirty = false;
      }
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** Marks the log failed: appends reject until it is reopened. */
  #fail(cause: unknown): MbError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    this.#failed ??= new MbError(
      "STORAGE_FAILED",
      `Cannot append to segment log "${this.#dir}": it failed and must be reopened: ${detail}`,
      { cause },
    );
    return this.#failed;
  }

  /**
   * Starts a new active segment named by the next offset. The old one is
   * synced and closed, and the directory synced; under "never" both syncs
   * wait for the next flush or close.
   */
  async #roll(): Promise<void> {
    const old = this.#active();
    const seg = new Segment(this.#dir, old.base + old.count);
    const file = await Deno.open(seg.path, { append: true, create: true });
    if (this.fsync === "never") {
      if (this.#dirty) this.#unsyncedPaths.push(old.path);
      this.#dirDirty = true;
    } else {
      try {
        this.#dirDirty = true;
        await this.sync();
      } catch (err) {
        file.close();
        throw err;
      }
    }
    this.#file?.close();
    this.#file = file;
    this.#dirty = false;
    this.#segments = [...this.#segments, seg];
  }
}
