// Copyright mb authors. MIT license.
// CPU time of a process from /proc, for the CPU columns of the report.

/** Linux reports /proc times in USER_HZ ticks, which is 100 on every mainstream architecture. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, every thread) a process has used so far, in
 * seconds, read from `/proc/<pid>/stat`. Resolution is one tick (10 ms).
 *
 * @param pid A process id, or `"self"` for the calling process.
 * @returns Seconds of CPU time.
 * @throws {Error} When the process does not exist (any more) or /proc is missing.
 *
 * @example
 * ```ts
 * import { processCpuSeconds } from "./cpu.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(processCpuSeconds("self") >= 0);
 * ```
 */
export function processCpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of the load generator and of the broker at one instant. */
export interface CpuSnapshot {
  /** Seconds from `performance.now()`. */
  wall: number;
  /** The generator's (this process's) CPU seconds. */
  generator: number;
  /** The broker's CPU seconds. */
  broker: number;
}

/**
 * Takes a {@linkcode CpuSnapshot} of this process and `brokerPid`.
 *
 * @param brokerPid The broker's process id.
 * @returns The snapshot.
 */
export function cpuSnapshot(brokerPid: number): CpuSnapshot {
  return {
    wall: performance.now() / 1000,
    generator: processCpuSeconds("self"),
    broker: processCpuSeconds(brokerPid),
  };
}

/** CPU use over an interval, as percentages of one core. */
export interface CpuUse {
  /** The load generator's CPU use, in percent of one core. */
  generatorPercent: number;
  /** The broker's CPU use, in percent of one core. */
  brokerPercent: number;
}

/**
 * CPU use between two snapshots.
 *
 * @param start The snapshot at the start of the interval.
 * @param end The snapshot at its end.
 * @returns Percentages of one core.
 */
export function cpuUse(start: CpuSnapshot, end: CpuSnapshot): CpuUse {
  const wall = Math.max(end.wall - start.wall, 1e-9);
  return {
    generatorPercent: (100 * (end.generator - start.generator)) / wall,
    brokerPercent: (100 * (end.broker - start.broker)) / wall,
  };
}
