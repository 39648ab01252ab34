// Copyright mb authors. MIT license.

/**
 * Recovery of a segment log's directory at open: finding its segment files,
 * scanning each one and cutting a torn or corrupt tail, as the module
 * documentation of `segment_log.ts` describes.
 *
 * @module
 */

import { Segment, segmentName, syncDir } from "./_segment.ts";
import type { SegmentLogRecovery } from "./_types.ts";

const SEGMENT_NAME_REGEXP = /^(\d{20})\.log$/;

/** What {@linkcode recoverSegments} opened. */
export interface RecoveredSegments {
  /** The segments, oldest first; the last one is the active one. */
  segments: Segment[];
  /** The active segment's file, open for appending. */
  file: Deno.FsFile;
}

/** The base offsets of the segment files in `dir`, in order. */
async function listBases(dir: string): Promise<number[]> {
  const bases: number[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = SEGMENT_NAME_REGEXP.exec(entry.name);
    if (match === null || entry.isDirectory) continue;
    const base = Number(match[1]);
    if (!Number.isSafeInteger(base)) {
      throw new Error(`segment "${entry.name}" has a base offset past 2^53 - 1`);
    }
    bases.push(base);
  }
  return bases.sort((a, b) => a - b);
}

/**
 * Opens the segments in `dir`, creating the directory and a first segment if
 * needed: scans each one (checksums in the last one only), cuts a bad tail
 * and tells `onRecover`. Syncs what it creates or cuts when `syncs`. Closes
 * the file it opened if it throws.
 */
export async function recoverSegments(
  dir: string,
  indexInterval: number,
  syncs: boolean,
  onRecover: ((info: SegmentLogRecovery) => void) | undefined,
): Promise<RecoveredSegments> {
  await Deno.mkdir(dir, { recursive: true });
  const bases = await listBases(dir);
  let file: Deno.FsFile | undefined;
  try {
    if (bases.length === 0) {
      const seg = new Segment(dir, 0);
      file = await Deno.open(seg.path, { append: true, create: true });
      if (syncs) await syncDir(dir);
      return { segments: [seg], file };
    }
    const segments: Segment[] = [];
    for (let i = 0; i < bases.length; i++) {
      const seg = new Segment(dir, bases[i]);
      const last = i === bases.length - 1;
      const previous = segments[segments.length - 1];
      if (previous !== undefined && seg.base < previous.base + previous.count) {
        throw new Error(
          `segment "${segmentName(seg.base)}" overlaps offsets ${seg.base}..${
            previous.base + previous.count - 1
          } of "${segmentName(previous.base)}"`,
        );
      }
      const fileSize = (await Deno.stat(seg.path)).size;
      const problem = await seg.scan(fileSize, last, indexInterval);
      if (last) file = await Deno.open(seg.path, { append: true });
      if (problem !== undefined) {
        const cut = file ?? await Deno.open(seg.path, { write: true });
        try {
          await cut.truncate(seg.size);
          if (syncs) await cut.syncData();
        } finally {
          if (cut !== file) cut.close();
        }
        onRecover?.({
          path: seg.path,
          baseOffset: seg.base,
          reason: problem,
          position: seg.size,
          removedBytes: fileSize - seg.size,
          lastOffset: seg.base + seg.count - 1,
        });
      }
      segments.push(seg);
    }
    return { segments, file: file as Deno.FsFile };
  } catch (err) {
    file?.close();
    throw err;
  }
}
