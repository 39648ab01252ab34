// Copyright mb authors. MIT license.

/**
 * The public types of `SegmentLog`: its options, the records it returns and
 * the results of its operations. `segment_log.ts` re-exports them; import
 * them from there.
 *
 * @module
 */

/** When a {@linkcode SegmentLog} calls `fdatasync`. */
export type SegmentLogFsync = "always" | "interval" | "never";

/** Options for {@linkcode SegmentLog.open}. */
export interface SegmentLogOptions {
  /**
   * Size at which the active segment is rolled. A batch is never split, so a
   * segment may pass this by up to one append.
   *
   * @default {67108864} (64 MiB)
   */
  segmentBytes?: number;
  /**
   * Age at which the active segment is rolled at the next append, measured
   * from the timestamp of its first record. Unset: segments roll by size only.
   *
   * @default {undefined}
   */
  segmentMaxAgeMs?: number;
  /**
   * `"always"`: an append resolves after `fdatasync` of its bytes, and
   * appends that arrive while a write or sync is in flight share the next
   * one (group commit). `"interval"`: appends resolve after the write and a
   * timer syncs every `fsyncIntervalMs`. `"never"`: the OS decides (close and
   * {@linkcode SegmentLog.flush} still sync).
   *
   * @default {"interval"}
   */
  fsync?: SegmentLogFsync;
  /**
   * Period of the sync timer under `fsync: "interval"`.
   *
   * @default {1000}
   */
  fsyncIntervalMs?: number;
  /**
   * Distance in bytes between entries of the in-memory sparse index; a read
   * scans at most about this much before its first record.
   *
   * @default {4096}
   */
  indexIntervalBytes?: number;
  /**
   * Quota on the bytes of all segment files. An append that would pass it is
   * refused with `STORAGE_FULL` and nothing is written.
   *
   * @default {Infinity}
   */
  maxBytesOnDisk?: number;
  /**
   * Checks each record's checksum when reading it.
   *
   * @default {true}
   */
  verifyChecksums?: boolean;
  /**
   * The clock, in milliseconds since the epoch: default timestamps, segment
   * age and retention by age use it.
   *
   * @default {Date.now}
   */
  now?: () => number;
  /** Called for each segment cut during recovery at open. */
  onRecover?: (info: SegmentLogRecovery) => void;
}

/** Why recovery cut a segment file. */
export type SegmentLogRecoveryReason =
  /** The file ends inside a record (a torn write). */
  | "torn"
  /** A record does not start with the magic byte (garbage or zeros). */
  | "magic"
  /** A record's offset is not the previous one plus one. */
  | "offset"
  /** A record's checksum does not match its bytes. */
  | "checksum";

/** What recovery did to one segment file, as given to `onRecover`. */
export interface SegmentLogRecovery {
  /** Path of the segment file. */
  path: string;
  /** Offset in the segment's file name. */
  baseOffset: number;
  /** Why the file was cut. */
  reason: SegmentLogRecoveryReason;
  /** Byte position the file was cut at: the end of the last good record. */
  position: number;
  /** Bytes removed from the end of the file. */
  removedBytes: number;
  /** Offset of the last good record in this segment, or `-1` if none is left. */
  lastOffset: number;
}

/** One record read back from a {@linkcode SegmentLog}. */
export interface LogRecord {
  /** Its offset, unique in the log. */
  offset: number;
  /** Its timestamp, milliseconds since the epoch. */
  timestamp: number;
  /**
   * Its body. A view into a buffer that belongs to this read (other bodies of
   * the same read share it); `slice()` it to keep a small body for long.
   */
  body: Uint8Array;
}

/** Bounds for {@linkcode SegmentLog.read}. */
export interface SegmentLogReadOptions {
  /**
   * Most records to return.
   *
   * @default {1000}
   */
  maxRecords?: number;
  /**
   * Most body bytes to return; the first record is returned whatever its size.
   *
   * @default {1048576}
   */
  maxBytes?: number;
}

/** Limits for {@linkcode SegmentLog.applyRetention}; unset ones do not apply. */
export interface SegmentLogRetention {
  /** Keep at least this many records; delete older whole segments beyond it. */
  maxRecords?: number;
  /** Keep at least this many bytes; delete older whole segments beyond it. */
  maxBytes?: number;
  /** Delete whole segments whose newest record is older than this. */
  maxAgeMs?: number;
}

/** What {@linkcode SegmentLog.applyRetention} or {@linkcode SegmentLog.truncateAll} removed. */
export interface SegmentLogRemoved {
  /** Segment files deleted. */
  segments: number;
  /** Records deleted. */
  records: number;
  /** Bytes deleted. */
  bytes: number;
  /** The log's first offset afterwards ({@linkcode SegmentLog.nextOffset} when empty). */
  firstOffset: number;
}

/** Offsets given to one {@linkcode SegmentLog.append}; `last < first` for no records. */
export interface SegmentLogAppended {
  /** Offset of the first record of the batch. */
  first: number;
  /** Offset of the last record of the batch. */
  last: number;
}
