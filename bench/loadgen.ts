// Copyright mb authors. MIT license.

/**
 * The load generator: one run of one workload against one broker, in its
 * own process (the orchestrator pins it to its own core). Usage:
 *
 *     deno run -A bench/loadgen.ts '<LoadSpec as JSON>'
 *
 * Prints one line of JSON, a {@linkcode LoadResult}, on stdout, and exits 0
 * when the run was verified, 1 otherwise (the JSON then says why).
 *
 * @module
 */

import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { runClient } from "./run_client.ts";
import { runHttp } from "./run_http.ts";
import { runLatency } from "./run_latency.ts";
import { runStore } from "./run_store.ts";
import { runThroughput } from "./run_throughput.ts";

function failed(error: unknown): LoadResult {
  return {
    ok: false,
    error: error instanceof Error ? error.message : String(error),
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

async function main(): Promise<number> {
  let result: LoadResult;
  try {
    const spec = JSON.parse(Deno.args[0] ?? "") as LoadSpec;
    switch (spec.workload.kind) {
      case "throughput":
        result = await runThroughput(spec);
        break;
      case "latency":
        result = await runLatency(spec);
        break;
      case "client":
        result = await runClient(spec);
        break;
      case "http-publish":
        result = await runHttp(spec);
        break;
      case "stream-publish":
      case "replay":
      case "queue":
        result = await runStore(spec);
        break;
    }
  } catch (error) {
    result = failed(error);
  }
  console.log(JSON.stringify(result));
  return result.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
