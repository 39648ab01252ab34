// Copyright mb authors. MIT license.

/**
 * `deno task bench`: measures mb and, in the same run, nats-server,
 * mosquitto, redis-server and Aedes, each with raw-socket load generators
 * that speak the broker's own protocol. Writes RESULTS.md and results.json.
 * See bench/README.md.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  brokerById,
  BROKERS,
  type BrokerSpec,
  ROOT,
  type RunningBroker,
  startBroker,
} from "./brokers.ts";
import { killAll, killChildrenOnSignal } from "./children.ts";
import { findExecutable, run } from "./commands.ts";
import { collectVersions, describeMachine } from "./environment.ts";
import { runGenerator } from "./generator_process.ts";
import type { LoadResult } from "./load_spec.ts";
import { ensurePeers } from "./peers.ts";
import { formatRate, renderMarkdown } from "./report.ts";
import type { BenchResults, Row } from "./results.ts";
import { ROUNDS, type Workload, workloadApplies, workloadById, WORKLOADS } from "./workloads.ts";

const HELP = `deno task bench [options]

Measures mb beside nats-server, mosquitto, redis-server and Aedes, with
raw-socket load generators, and writes RESULTS.md and results.json.

Options:
  --quick              small counts (whole run well under a minute); counts
                       are still verified
  --only LIST          brokers, comma separated: ${BROKERS.map((b) => b.id).join(",")}
  --workloads LIST     workloads, comma separated:
                       ${WORKLOADS.map((w) => w.id).join(",")}
  --out DIR            where RESULTS.md and results.json go (default bench/)
  --help               show this help
`;

const HOST = "127.0.0.1";
const BROKER_CORE = 0;
const GENERATOR_CORE = 1;

function log(line: string): void {
  console.error(line);
}

function progress(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text));
}

function summary(workload: Workload, result: LoadResult): string {
  if (!result.ok) return `FAILED: ${result.error ?? "unknown error"}`;
  const cpu = `(gen ${Math.round(result.generatorCpuPercent)}%, broker ${
    Math.round(result.brokerCpuPercent)
  }%)`;
  switch (workload.headline) {
    case "messages":
      return `${formatRate(result.messagesPerSecond)} ${workload.unit} ${cpu}`;
    case "deliveries":
      return `${formatRate(result.deliveriesPerSecond)} deliveries/s ${cpu}`;
    case "latency":
      return `p50 ${result.p50Micros?.toFixed(1)} µs, p99 ${
        result.p99Micros?.toFixed(1)
      } µs ${cpu}`;
  }
}

function parseList<T>(
  value: string | undefined,
  all: readonly T[],
  lookup: (id: string) => T,
): T[] {
  if (value === undefined || value.trim() === "") return [...all];
  const wanted = value.split(",").map((id) => id.trim()).filter((id) => id !== "").map(lookup);
  return all.filter((item) => wanted.includes(item));
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        workloads: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    log(`bench: ${error instanceof Error ? error.message : error}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let brokers: BrokerSpec[];
  let workloads: Workload[];
  try {
    brokers = parseList(values.only, BROKERS, brokerById);
    workloads = parseList(values.workloads, WORKLOADS, workloadById);
  } catch (error) {
    log(`bench: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  const quick = values.quick;
  const outDir = values.out ?? `${ROOT}bench`;
  killChildrenOnSignal();

  const started = performance.now();
  const date = new Date().toISOString();
  const canPin = navigator.hardwareConcurrency >= 2;
  try {
    await ensurePeers(brokers, canPin, log);
  } catch (error) {
    log(`bench: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  const pin = canPin && findExecutable("taskset") !== undefined;
  if (!pin) log("bench: fewer than 2 CPUs or no taskset: running without pinning");
  const brokerCore = pin ? BROKER_CORE : undefined;
  const generatorCore = pin ? GENERATOR_CORE : undefined;
  const [machine, versions] = await Promise.all([describeMachine(), collectVersions(brokers)]);

  const applies = workloadApplies;
  const total = brokers.reduce(
    (sum, broker) => sum + workloads.filter((w) => applies(w, broker)).length,
    0,
  );
  const rows: Row[] = [];
  let index = 0;
  for (const broker of brokers) {
    let running: RunningBroker | undefined;
    let startError: string | undefined;
    try {
      for (const workload of workloads) {
        if (!applies(workload, broker)) {
          rows.push({
            workload: workload.id,
            broker: broker.id,
            status: "n/a",
            verified: false,
            note: workload.mqtt === true ? "MQTT brokers and mb only" : "mb only",
          });
          continue;
        }
        index++;
        progress(`[${index}/${total}] ${broker.id} ${workload.title} ... `);
        // A store row gets a broker of its own with a fresh data directory; the web rows
        // share one with the web listener open (`--http-port`), the other rows one with
        // it off. Only one broker runs on the broker core at a time.
        const ownBroker = workload.store !== undefined;
        const web = workload.transport === "ws" || workload.transport === "http";
        // mb's MQTT rows need its MQTT listener; the MQTT brokers speak nothing else.
        const mqtt = workload.mqtt === true && broker.id === "mb";
        if (
          running !== undefined &&
          (ownBroker || (running.httpPort !== undefined) !== web ||
            (running.mqttPort !== undefined) !== mqtt)
        ) {
          await running.stop();
          running = undefined;
        }
        if (running === undefined || !running.alive) {
          const died = running !== undefined
            ? `${broker.label} had exited: ${running.output}; restarted. `
            : "";
          if (died !== "") log(died);
          try {
            running = await startBroker(broker, {
              host: HOST,
              core: brokerCore,
              timeoutMs: 30_000,
              store: workload.store,
              web,
              mqtt,
            });
            startError = undefined;
          } catch (error) {
            running = undefined;
            startError = error instanceof Error ? error.message : String(error);
          }
        }
        if (running === undefined) {
          log(`FAILED: ${startError}`);
          rows.push({
            workload: workload.id,
            broker: broker.id,
            status: "failed",
            verified: false,
            note: startError,
          });
          continue;
        }
        const count = quick ? workload.messages.quick : workload.messages.full;
        const warmup = quick ? workload.warmup.quick : workload.warmup.full;
        const result = await runGenerator({
          broker: broker.id,
          protocol: mqtt ? "mqtt" : broker.protocol,
          host: running.host,
          port: mqtt ? running.mqttPort! : running.port,
          ...(running.httpPort === undefined ? {} : { httpPort: running.httpPort }),
          brokerPid: running.pid,
          workload,
          messages: count,
          warmup,
          rounds: quick ? ROUNDS.quick : ROUNDS.full,
          stallMs: quick ? 10_000 : 15_000,
        }, { core: generatorCore, timeoutMs: quick ? 60_000 : 300_000 });
        if (!running.alive) {
          result.ok = false;
          result.error = `${result.error ?? ""} ${broker.label} exited during the run: ${
            running.output.slice(-500)
          }`.trim();
        }
        if (ownBroker) {
          await running.stop();
          running = undefined;
        }
        log(summary(workload, result));
        rows.push({
          workload: workload.id,
          broker: broker.id,
          status: result.ok ? "ok" : "failed",
          verified: result.ok,
          ...(result.ok ? {} : { note: result.error }),
          result,
        });
      }
    } finally {
      await running?.stop();
    }
  }

  const results: BenchResults = {
    date,
    quick,
    rounds: quick ? ROUNDS.quick : ROUNDS.full,
    seconds: (performance.now() - started) / 1000,
    machine,
    pinning: pin ? { broker: BROKER_CORE, generator: GENERATOR_CORE } : undefined,
    versions,
    brokers: brokers.map((broker) => ({ id: broker.id, label: broker.label })),
    workloads: workloads.map((workload) => ({
      ...workload,
      count: quick ? workload.messages.quick : workload.messages.full,
      warmupCount: quick ? workload.warmup.quick : workload.warmup.full,
    })),
    rows,
  };
  await Deno.mkdir(outDir, { recursive: true });
  const jsonPath = `${outDir}/results.json`;
  const markdownPath = `${outDir}/RESULTS.md`;
  await Deno.writeTextFile(jsonPath, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(markdownPath, renderMarkdown(results));
  // Lay the tables out as `deno fmt` would, so the committed report passes `deno fmt --check`.
  await run(Deno.execPath(), ["fmt", "--quiet", markdownPath, jsonPath], { cwd: ROOT });
  const failed = rows.filter((row) => row.status === "failed").length;
  log(
    `Wrote ${outDir}/RESULTS.md and results.json in ${Math.round(results.seconds)} s` +
      (failed > 0 ? `; ${failed} row(s) FAILED` : ""),
  );
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) {
  let code = 1;
  try {
    code = await main();
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.stack : error}`);
    await killAll();
  }
  Deno.exit(code);
}
