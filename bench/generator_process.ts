// Copyright mb authors. MIT license.
// Runs bench/loadgen.ts in its own Deno process, pinned to its own core,
// and reads the one JSON line it prints.

import { signal, track } from "./children.ts";
import type { LoadResult, LoadSpec } from "./load_spec.ts";

const LOADGEN = new URL("./loadgen.ts", import.meta.url).pathname;

/** Options for {@linkcode runGenerator}. */
export interface GeneratorOptions {
  /** Core to pin the generator to, or `undefined` for no pinning. */
  core: number | undefined;
  /** Kill it after this long, in milliseconds. */
  timeoutMs: number;
}

/**
 * Runs one workload in a fresh load-generator process.
 *
 * @param spec What to run.
 * @param options Pinning and deadline.
 * @returns The generator's result; a crash or timeout becomes a failed result.
 */
export async function runGenerator(spec: LoadSpec, options: GeneratorOptions): Promise<LoadResult> {
  const argv = [Deno.execPath(), "run", "-A", LOADGEN, JSON.stringify(spec)];
  const [command, ...args] = options.core === undefined
    ? argv
    : ["taskset", "-c", String(options.core), ...argv];
  const child = track(
    new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn(),
  );
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signal(child, "SIGKILL");
  }, options.timeoutMs);
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.status;
  clearTimeout(timer);
  const line = stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as LoadResult;
  } catch {
    const why = timedOut
      ? `the load generator was killed after ${options.timeoutMs / 1000} s`
      : "the load generator printed no result";
    return {
      ok: false,
      error: `${why}: ${(stderr || stdout).trim().slice(-1500)}`,
      checks: [],
      messages: 0,
      deliveries: 0,
      seconds: 0,
      messagesPerSecond: 0,
      deliveriesPerSecond: 0,
      megabytesPerSecond: 0,
      generatorCpuPercent: 0,
      brokerCpuPercent: 0,
    };
  }
}
