// Copyright mb authors. MIT license.

/**
 * One segment file of the segment log and its sparse in-memory index: the
 * scan that rebuilds it at open, batches encoded to follow its records, index
 * lookups, and a window of file bytes to walk records through.
 *
 * @module
 */

import {
  checkRecordHeader,
  checksumMatches,
  encodeRecords,
  RECORD_HEADER_BYTES,
  recordTimestamp,
} from "./_record.ts";
import type { SegmentLogRecoveryReason } from "./_types.ts";

const SCAN_CHUNK_BYTES = 1024 * 1024;
const EMPTY = new Uint8Array(0);

/** Bodies that share a timestamp, as one append queues them. */
export interface SegmentBatch {
  /** The record bodies. */
  bodies: Uint8Array[];
  /** Their timestamp, milliseconds since the epoch. */
  timestamp: number;
}

/** Records encoded to follow a segment's records, not yet visible to readers. */
export interface SegmentWrite {
  /** The encoded records. */
  bytes: Uint8Array;
  /** Byte position they go to: the segment's size when encoded. */
  position: number;
  /** The segment's record count when encoded. */
  startCount: number;
  /** Records encoded. */
  records: number;
  /** New index entries, as pairs of relative offset and byte position. */
  index: number[];
  /** The segment's `lastIndexed`, `firstTimestamp` and `maxTimestamp` afterwards. */
  lastIndexed: number;
  /** See `lastIndexed`. */
  firstTimestamp: number;
  /** See `lastIndexed`. */
  maxTimestamp: number;
}

/** The file name of the segment whose first offset is `base`. */
export function segmentName(base: number): string {
  return `${String(base).padStart(20, "0")}.log`;
}

/** Syncs the directory entry list of `dir` (a no-op on Windows). */
export async function syncDir(dir: string): Promise<void> {
  // Windows cannot open a directory as a file; NTFS journals the entry itself.
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** Reads up to `length` bytes at `pos`; fewer at the end of the file. */
async function readAt(file: Deno.FsFile, pos: number, length: number): Promise<Uint8Array> {
  await file.seek(pos, Deno.SeekMode.Start);
  const buf = new Uint8Array(length);
  let n = 0;
  while (n < length) {
    const got = await file.read(buf.subarray(n));
    if (got === null) break;
    n += got;
  }
  return n === length ? buf : buf.subarray(0, n);
}

/** Bytes of a file up to `end`, read a chunk at a time, for walking its records. */
export class FileWindow {
  /** The bytes read last. */
  buf: Uint8Array = EMPTY;
  #start = 0;
  readonly #file: Deno.FsFile;
  readonly #end: number;
  readonly #chunk: number;

  /** Reads `file` up to byte `end`, at least `chunk` bytes at a time. */
  constructor(file: Deno.FsFile, end: number, chunk: number) {
    this.#file = file;
    this.#end = end;
    this.#chunk = chunk;
  }

  /**
   * Makes the `need` bytes at file position `pos` available in `buf`, reading
   * if they are not (fewer when the file ends first). Returns where `pos` is
   * in `buf`.
   */
  async at(pos: number, need: number): Promise<number> {
    const h = pos - this.#start;
    if (h + need <= this.buf.length) return h;
    this.buf = await readAt(
      this.#file,
      pos,
      Math.min(Math.max(this.#chunk, need), this.#end - pos),
    );
    this.#start = pos;
    return 0;
  }
}

/** One segment file as the log keeps it: counts and a sparse index, no data. */
export class Segment {
  /** Offset of its first record, in its file name. */
  readonly base: number;
  /** Path of its file. */
  readonly path: string;
  /** Records visible to readers (written, and synced under "always"). */
  count = 0;
  /** Bytes visible to readers. */
  size = 0;
  /** Timestamp of its first record. */
  firstTimestamp = 0;
  /** Newest timestamp of its records. */
  maxTimestamp = 0;
  /** Byte position of the last index entry. */
  lastIndexed = -Infinity;
  #rel = new Uint32Array(16);
  #pos = new Float64Array(16);
  #entries = 0;

  /** A segment of the log in `dir` whose first offset is `base`. */
  constructor(dir: string, base: number) {
    this.base = base;
    this.path = `${dir}/${segmentName(base)}`;
  }

  /** Adds an index entry: the record `base + rel` starts at byte `pos`. */
  index(rel: number, pos: number): void {
    if (this.#entries === this.#rel.length) {
      const rel2 = new Uint32Array(this.#entries * 2);
      rel2.set(this.#rel);
      this.#rel = rel2;
      const pos2 = new Float64Array(this.#entries * 2);
      pos2.set(this.#pos);
      this.#pos = pos2;
    }
    this.#rel[this.#entries] = rel;
    this.#pos[this.#entries] = pos;
    this.#entries++;
    this.lastIndexed = pos;
  }

  /** The last index entry at or before relative offset `rel`, as [rel, pos]. */
  floor(rel: number): [number, number] {
    let lo = 0;
    let hi = this.#entries - 1;
    if (hi < 0) return [0, 0];
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#rel[mid] <= rel) lo = mid;
      else hi = mid - 1;
    }
    return [this.#rel[lo], this.#pos[lo]];
  }

  /**
   * Walks the records of the file from byte 0, filling the count, size,
   * timestamps and index; checks checksums only if `verify`. Returns the
   * reason it stopped early, if it did; `size` is then where the file must
   * be cut.
   */
  async scan(
    fileSize: number,
    verify: boolean,
    indexInterval: number,
  ): Promise<SegmentLogRecoveryReason | undefined> {
    if (fileSize === 0) return undefined;
    const file = await Deno.open(this.path, { read: true });
    try {
      const window = new FileWindow(file, fileSize, SCAN_CHUNK_BYTES);
      let pos = 0;
      while (pos < fileSize) {
        let h = await window.at(pos, RECORD_HEADER_BYTES);
        const total = checkRecordHeader(window.buf, h, fileSize - pos, this.base + this.count);
        if (typeof total === "string") return total;
        const timestamp = recordTimestamp(window.buf, h);
        if (verify) {
          h = await window.at(pos, total);
          if (h + total > window.buf.length) return "torn";
          if (!checksumMatches(window.buf, h, total)) return "checksum";
        }
        if (timestamp < 0) return "checksum";
        if (this.count === 0) this.firstTimestamp = timestamp;
        if (this.count === 0 || pos - this.lastIndexed >= indexInterval) {
          this.index(this.count, pos);
        }
        if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
        this.count++;
        pos += total;
        this.size = pos;
      }
      return undefined;
    } finally {
      file.close();
    }
  }

  /**
   * Encodes `batches`, `bytes` in all, as the records that follow this
   * segment's, with an index entry every `indexInterval` bytes. Nothing
   * changes until {@linkcode commit}.
   */
  encode(batches: readonly SegmentBatch[], bytes: number, indexInterval: number): SegmentWrite {
    const startPos = this.size;
    const write: SegmentWrite = {
      bytes: new Uint8Array(bytes),
      position: startPos,
      startCount: this.count,
      records: 0,
      index: [],
      lastIndexed: this.lastIndexed,
      firstTimestamp: this.firstTimestamp,
      maxTimestamp: this.maxTimestamp,
    };
    const onRecord = (offset: number, at: number): void => {
      const rel = offset - this.base;
      const pos = startPos + at;
      if (rel === 0 || pos - write.lastIndexed >= indexInterval) {
        write.index.push(rel, pos);
        write.lastIndexed = pos;
      }
    };
    let offset = this.base + this.count;
    let p = 0;
    for (let k = 0; k < batches.length; k++) {
      const { bodies, timestamp } = batches[k];
      if (bodies.length === 0) continue;
      if (offset === this.base) write.firstTimestamp = timestamp;
      if (timestamp > write.maxTimestamp) write.maxTimestamp = timestamp;
      p = encodeRecords(write.bytes, p, bodies, offset, timestamp, onRecord);
      offset += bodies.length;
    }
    write.records = offset - this.base - this.count;
    return write;
  }

  /** Publishes `write` once it is on disk: from here readers see its records. */
  commit(write: SegmentWrite): void {
    const index = write.index;
    for (let k = 0; k < index.length; k += 2) this.index(index[k], index[k + 1]);
    this.lastIndexed = write.lastIndexed;
    this.firstTimestamp = write.firstTimestamp;
    this.maxTimestamp = write.maxTimestamp;
    this.count = write.startCount + write.records;
    this.size = write.position + write.bytes.length;
  }
}
