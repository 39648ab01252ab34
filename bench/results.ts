// Copyright mb authors. MIT license.
// The shape of bench/results.json, which RESULTS.md is rendered from.

import type { BrokerId } from "./brokers.ts";
import type { Machine } from "./environment.ts";
import type { LoadResult } from "./load_spec.ts";
import type { Workload, WorkloadId } from "./workloads.ts";

/** One workload on one broker. */
export interface Row {
  /** The workload. */
  workload: WorkloadId;
  /** The broker. */
  broker: BrokerId;
  /**
   * `ok`: ran and every count matched; `failed`: did not run to the end or
   * a count was off; `n/a`: the workload does not apply to this broker.
   */
  status: "ok" | "failed" | "n/a";
  /** Whether every delivered (and reply) count equalled the expected one. */
  verified: boolean;
  /** Why it failed, or why it does not apply. */
  note?: string;
  /** What the load generator measured (absent for n/a rows and failed starts). */
  result?: LoadResult;
}

/** Everything one benchmark run produced. */
export interface BenchResults {
  /** When the run started, ISO 8601. */
  date: string;
  /** Whether `--quick` counts were used. */
  quick: boolean;
  /** Measured rounds per row; each row reports its median round. */
  rounds: number;
  /** How long the whole run took, in seconds. */
  seconds: number;
  /** The machine. */
  machine: Machine;
  /** Cores the brokers and the generator were pinned to; undefined when not pinned. */
  pinning: { broker: number; generator: number } | undefined;
  /** Versions by name. */
  versions: Record<string, string>;
  /** Brokers in column order, with their column titles. */
  brokers: { id: BrokerId; label: string }[];
  /** The workloads run, with the counts used. */
  workloads: (Workload & { count: number; warmupCount: number })[];
  /** One row per workload and broker. */
  rows: Row[];
}
