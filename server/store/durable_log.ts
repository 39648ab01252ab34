// Copyright mb authors. MIT license.

import type {
  LogRecord,
  SegmentLogAppended,
  SegmentLogReadOptions,
  SegmentLogRemoved,
  SegmentLogRetention,
} from "./_types.ts";

/**
 * What streams and queues need from a log: {@linkcode SegmentLog} on disk,
 * {@linkcode MemoryLog} without a data directory. Offsets start at 0, are
 * contiguous and never repeat; appends resolve in call order.
 */
export interface DurableLog {
  /** Offset of the oldest record held; equals `nextOffset` when empty. */
  readonly firstOffset: number;
  /** The offset the next record gets. */
  readonly nextOffset: number;
  /** Records held. */
  readonly recordCount: number;
  /** Bytes the records take (headers included). */
  readonly byteSize: number;
  /**
   * Appends records with consecutive offsets.
   *
   * @param bodies The records; the log copies them before it resolves.
   * @param timestamp Milliseconds since the epoch; defaults to now.
   */
  append(bodies: Uint8Array[], timestamp?: number): Promise<SegmentLogAppended>;
  /**
   * Reads records from the first one at or after `fromOffset`.
   *
   * @param fromOffset Where to start.
   * @param options Bounds on the records returned.
   */
  read(fromOffset: number, options?: SegmentLogReadOptions): Promise<LogRecord[]>;
  /**
   * Drops old records by count, bytes or age (whole segments on disk).
   *
   * @param limits The limits.
   */
  applyRetention(limits: SegmentLogRetention): Promise<SegmentLogRemoved>;
  /**
   * Drops records below `offset` (on disk, whole segments whose records are
   * all below it; the rest stay until their segment is all below).
   *
   * @param offset The first offset to keep.
   */
  removeBefore(offset: number): Promise<SegmentLogRemoved>;
  /** Drops every record; offsets keep counting. */
  truncateAll(): Promise<SegmentLogRemoved>;
  /** Starts a new segment, so retention can drop the current one. */
  roll(): Promise<void>;
  /** Syncs what was appended. */
  flush(): Promise<void>;
  /** Syncs and closes. */
  close(): Promise<void>;
}
