// Copyright mb authors. MIT license.
// Pieces the three runners share: the stall watchdog, the exact-count
// checks, and turning timings and CPU snapshots into a LoadResult.

import type { BenchConnection } from "./connection.ts";
import { type CpuSnapshot, cpuSnapshot, cpuUse } from "./cpu.ts";
import type { Flow } from "./flow.ts";
import type { Check, LoadResult, LoadSpec, RoundFigures } from "./load_spec.ts";
import type { Workload } from "./workloads.ts";

/**
 * Fails `flow` when a publisher has waited `stallMs` without the receivers
 * moving, or as soon as a connection fails or the broker reports an error.
 *
 * @param flow The flow to guard.
 * @param connections Connections whose failures end the run.
 * @param stallMs How long no progress is tolerated.
 * @returns A function that stops the watchdog.
 */
export function guard(flow: Flow, connections: BenchConnection[], stallMs: number): () => void {
  for (const connection of connections) {
    connection.addListener(() => {
      const counter = connection.counter;
      if (connection.failure !== undefined) {
        flow.fail(new Error(`${connection.name}: ${connection.failure}`));
      } else if (counter.errors > 0) {
        flow.fail(new Error(`${connection.name}: broker error: ${counter.firstError}`));
      } else {
        flow.notify();
      }
    });
  }
  let last = -1;
  let since = performance.now();
  const timer = setInterval(() => {
    const progress = flow.progress();
    const now = performance.now();
    if (progress !== last || !flow.waiting) {
      last = progress;
      since = now;
    } else if (now - since > stallMs) {
      flow.fail(
        new Error(
          `No progress for ${Math.round(stallMs / 1000)} s after ${flow.published} published: ` +
            describeCounts(flow),
        ),
      );
    }
  }, 250);
  return () => clearInterval(timer);
}

/**
 * Fails `flow` when a waiter has waited `stallMs` without the receivers
 * moving (for the client-library runners, whose failures come from promises
 * rather than connections).
 *
 * @param flow The flow to guard.
 * @param stallMs How long no progress is tolerated.
 * @returns A function that stops the watchdog.
 */
export function watchStall(flow: Flow, stallMs: number): () => void {
  let last = -1;
  let since = performance.now();
  const timer = setInterval(() => {
    const progress = flow.progress();
    if (progress !== last || !flow.waiting) {
      last = progress;
      since = performance.now();
    } else if (performance.now() - since > stallMs) {
      flow.fail(
        new Error(`No progress for ${Math.round(stallMs / 1000)} s: ${describeCounts(flow)}`),
      );
    }
  }, 250);
  return () => clearInterval(timer);
}

/**
 * One line listing each receiver's count since the flow's reset.
 *
 * @param flow The flow.
 * @returns e.g. `sub-0 deliveries 9000, pub-0 replies 10000`.
 */
export function describeCounts(flow: Flow): string {
  return flow.counts().map((entry) => `${entry.name} ${entry.count}`).join(", ");
}

/**
 * The exact counts each receiver should have after `messages` messages.
 *
 * @param flow The flow, after the measured phase.
 * @param messages Messages published in the phase.
 * @returns One check per gauge.
 */
export function exactChecks(flow: Flow, messages: number): Check[] {
  return flow.counts().map((entry) => ({
    name: entry.name,
    expected: Math.round(messages * entry.share),
    counted: entry.count,
  }));
}

/** Timing and CPU of a measured phase, and what it moved. */
export interface Measured {
  /** Snapshot at the start. */
  start: CpuSnapshot;
  /** Snapshot at the end. */
  end: CpuSnapshot;
  /** Messages published (or round trips). */
  messages: number;
  /** Deliveries counted. */
  deliveries: number;
  /** Payload bytes per message. */
  payloadBytes: number;
  /** The checks made. */
  checks: Check[];
}

/**
 * Builds the result of a measured phase; it is `ok` only when every check
 * matched exactly.
 *
 * @param measured What was measured.
 * @returns The result.
 */
export function toResult(measured: Measured): LoadResult {
  const seconds = Math.max(measured.end.wall - measured.start.wall, 1e-9);
  const cpu = cpuUse(measured.start, measured.end);
  const wrong = measured.checks.filter((check) => check.counted !== check.expected);
  return {
    ok: wrong.length === 0,
    ...(wrong.length === 0 ? {} : {
      error: "Count mismatch: " +
        wrong.map((c) => `${c.name} ${c.counted} (expected ${c.expected})`).join(", "),
    }),
    checks: measured.checks,
    messages: measured.messages,
    deliveries: measured.deliveries,
    seconds,
    messagesPerSecond: measured.messages / seconds,
    deliveriesPerSecond: measured.deliveries / seconds,
    megabytesPerSecond: (measured.messages * measured.payloadBytes) / seconds / 1e6,
    generatorCpuPercent: cpu.generatorPercent,
    brokerCpuPercent: cpu.brokerPercent,
  };
}

/**
 * Closes connections and waits (briefly) for their read loops to end.
 *
 * @param connections The connections.
 */
export async function closeAll(connections: BenchConnection[]): Promise<void> {
  for (const connection of connections) connection.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(connections.map((connection) => connection.done)),
    new Promise((resolve) => timer = setTimeout(resolve, 2_000)),
  ]);
  clearTimeout(timer);
}

/**
 * Rounds `count` up to a multiple of `step`.
 *
 * @param count The count.
 * @param step The step.
 * @returns The rounded count.
 */
export function roundUp(count: number, step: number): number {
  return Math.ceil(count / step) * step;
}

function figures(result: LoadResult): RoundFigures {
  return {
    seconds: result.seconds,
    messagesPerSecond: result.messagesPerSecond,
    deliveriesPerSecond: result.deliveriesPerSecond,
    megabytesPerSecond: result.megabytesPerSecond,
    generatorCpuPercent: result.generatorCpuPercent,
    brokerCpuPercent: result.brokerCpuPercent,
  };
}

/**
 * Runs `measure` `rounds` times in a row and reports the median round by
 * the workload's headline figure; the run is `ok` only if every round is.
 *
 * @param rounds How many rounds (1 or more).
 * @param headline Which figure orders the rounds.
 * @param measure Runs one measured round.
 * @returns The median round's result, with every round's figures and checks.
 */
export async function measureRounds(
  rounds: number,
  headline: Workload["headline"],
  measure: () => Promise<LoadResult>,
): Promise<LoadResult> {
  const results: LoadResult[] = [];
  for (let round = 0; round < Math.max(1, rounds); round++) results.push(await measure());
  const key = headline === "deliveries" ? "deliveriesPerSecond" : "messagesPerSecond";
  const sorted = [...results].sort((a, b) => a[key] - b[key]);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  const label = (round: number) => (results.length > 1 ? `round ${round + 1}: ` : "");
  const failed = results.findIndex((result) => !result.ok);
  return {
    ...median,
    ok: failed < 0,
    ...(failed < 0 ? {} : { error: `${label(failed)}${results[failed].error}` }),
    checks: results.flatMap((result, round) =>
      result.checks.map((check) => ({ ...check, name: `${label(round)}${check.name}` }))
    ),
    rounds: results.map(figures),
  };
}

/**
 * Measures `spec.rounds` rounds of `phase(spec.messages)` with broker CPU,
 * where the flow's first gauge counts the deliveries and every gauge must
 * reach its exact count.
 *
 * @param spec What is run.
 * @param flow The flow `phase` reports to.
 * @param phase Publishes `total` messages and waits for them.
 * @returns The result of the median round.
 */
export function measureExactRounds(
  spec: LoadSpec,
  flow: Flow,
  phase: (total: number) => Promise<void>,
): Promise<LoadResult> {
  return measureRounds(spec.rounds, spec.workload.headline, async () => {
    const start = cpuSnapshot(spec.brokerPid);
    await phase(spec.messages);
    const end = cpuSnapshot(spec.brokerPid);
    const checks = exactChecks(flow, spec.messages);
    return toResult({
      start,
      end,
      messages: spec.messages,
      deliveries: checks[0].counted,
      payloadBytes: spec.workload.payloadBytes,
      checks,
    });
  });
}
