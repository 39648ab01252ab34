// Copyright mb authors. MIT license.
// What the orchestrator hands the load generator (as JSON on its command
// line), and what the generator prints back (one JSON line on stdout).

import type { ProtocolName } from "./protocols/mod.ts";
import type { Workload } from "./workloads.ts";

/** The load generator's input. */
export interface LoadSpec {
  /** Broker id, for messages. */
  broker: string;
  /** The wire protocol to speak. */
  protocol: ProtocolName;
  /** Broker host. */
  host: string;
  /** Broker port. */
  port: number;
  /** mb's web listener port (WebSocket and HTTP API), for the web rows. */
  httpPort?: number;
  /** Broker process id, for its CPU time. */
  brokerPid: number;
  /** The workload. */
  workload: Workload;
  /** Measured messages. */
  messages: number;
  /** Warm-up messages. */
  warmup: number;
  /** Measured phases, one after another on the same connections; the median is reported. */
  rounds: number;
  /** Fail when no receiver makes progress for this long, in milliseconds. */
  stallMs: number;
}

/** A count the run checked: it passes only when `counted === expected`. */
export interface Check {
  /** What was counted, e.g. `sub-3 deliveries`. */
  name: string;
  /** The exact number expected. */
  expected: number;
  /** The number seen. */
  counted: number;
}

/** The figures of one measured round. */
export interface RoundFigures {
  /** Wall time, in seconds. */
  seconds: number;
  /** Published messages per second. */
  messagesPerSecond: number;
  /** Deliveries per second. */
  deliveriesPerSecond: number;
  /** Payload megabytes (10^6 bytes) published per second. */
  megabytesPerSecond: number;
  /** The generator's CPU use, percent of one core. */
  generatorCpuPercent: number;
  /** The broker's CPU use, percent of one core. */
  brokerCpuPercent: number;
}

/**
 * The load generator's output. With several rounds, the figures are those
 * of the median round (by the workload's headline figure), `rounds` lists
 * every round, and `checks` holds every round's checks.
 */
export interface LoadResult {
  /** Whether the run finished and every check passed. */
  ok: boolean;
  /** Why not, when `ok` is false. */
  error?: string;
  /** Every count checked, expected against counted. */
  checks: Check[];
  /** Measured messages published (or round trips, for latency). */
  messages: number;
  /** Measured deliveries (messages times receivers). */
  deliveries: number;
  /** Wall time of the measured phase, in seconds. */
  seconds: number;
  /** Published messages per second. */
  messagesPerSecond: number;
  /** Deliveries per second. */
  deliveriesPerSecond: number;
  /** Payload megabytes (10^6 bytes) published per second. */
  megabytesPerSecond: number;
  /** Latency median, microseconds (latency workload). */
  p50Micros?: number;
  /** Latency 99th percentile, microseconds (latency workload). */
  p99Micros?: number;
  /** The generator's CPU use during the measured phase, percent of one core. */
  generatorCpuPercent: number;
  /** The broker's CPU use during the measured phase, percent of one core. */
  brokerCpuPercent: number;
  /** Every measured round, in order (absent when the run failed before measuring). */
  rounds?: RoundFigures[];
}
