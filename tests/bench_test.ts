// Copyright mb authors. MIT license.
// `deno task bench --quick` end to end: every broker starts, every workload
// runs with its counts verified, and the report is written. Needs the peers
// (nats-server, mosquitto, redis-server, Node.js + npm for Aedes); the
// benchmark installs them when root, and otherwise fails naming the package.

import assert from "node:assert/strict";
import { BROKERS } from "../bench/brokers.ts";
import type { BenchResults } from "../bench/results.ts";
import { workloadApplies, WORKLOADS } from "../bench/workloads.ts";
import { ROOT } from "./_helpers.ts";

const DEADLINE_MS = 180_000;

Deno.test({
  name: "bench --quick runs every workload on every broker with verified counts",
  sanitizeResources: true,
  sanitizeOps: true,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "mb-bench-test-" });
    try {
      const started = performance.now();
      let output: Deno.CommandOutput;
      try {
        output = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}bench/main.ts`, "--quick", "--out", out],
          cwd: ROOT,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(DEADLINE_MS),
        }).output();
      } catch (error) {
        throw new Error(`bench --quick did not finish within ${DEADLINE_MS / 1000} s: ${error}`);
      }
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(
        output.code,
        0,
        `bench --quick exited ${output.code} after ${
          Math.round((performance.now() - started) / 1000)
        } s (a missing peer is named here):\n${stderr.slice(-4000)}`,
      );

      const results: BenchResults = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
      assert.equal(results.quick, true);
      for (const workload of WORKLOADS) {
        for (const broker of BROKERS) {
          const row = results.rows.find((r) =>
            r.workload === workload.id && r.broker === broker.id
          );
          assert.ok(row !== undefined, `no row for ${workload.id} on ${broker.id}`);
          if (!workloadApplies(workload, broker)) {
            assert.equal(row.status, "n/a", `${workload.id} on ${broker.id} should be n/a`);
            continue;
          }
          assert.equal(row.status, "ok", `${workload.id} on ${broker.id}: ${row.note}`);
          assert.equal(row.verified, true, `${workload.id} on ${broker.id} not verified`);
          const result = row.result!;
          assert.ok(result.checks.length > 0, `${workload.id} on ${broker.id} checked nothing`);
          for (const check of result.checks) {
            assert.equal(
              check.counted,
              check.expected,
              `${workload.id} on ${broker.id}: ${check.name}`,
            );
          }
          if (workload.headline === "latency") {
            assert.ok(result.p50Micros! > 0 && result.p99Micros! >= result.p50Micros!);
          } else {
            assert.ok(result.messagesPerSecond > 0);
          }
        }
      }

      // The report is laid out by `deno fmt`: cells are padded and prose is wrapped.
      const markdown = await Deno.readTextFile(`${out}/RESULTS.md`);
      const header = ["Workload", ...BROKERS.map((b) => b.label), "mb / best peer"]
        .map((title) => title.replace(/[/]/g, "\\/")).join(String.raw`\s*\|\s*`);
      assert.match(markdown, new RegExp(String.raw`^\|\s*${header}\s*\|$`, "m"));
      assert.match(
        markdown,
        /\|\s*1 → 1, 64 B \(msg\/s\)\s*\|\s*[\d.]+[kM]? msg\/s \(gen CPU \d+%/,
      );
      assert.match(
        markdown.replace(/\s+/g, " "),
        /Store rows \(durable confirmed publish, stream replay, queue acks\) run against mb only/,
      );
      assert.match(
        markdown,
        /\|\s*durable confirmed publish, fsync always \(msg\/s\)\s*\|\s*[\d.]+[kM]? msg\/s \(gen CPU/,
      );
      assert.match(
        markdown,
        /\|\s*queue consume \+ ack, prefetch 256, 64 B \(jobs\/s\)\s*\|\s*[\d.]+[kM]? jobs\/s/,
      );
      // The web rows: WebSocket against TCP, and HTTP publish in requests/s.
      assert.match(
        markdown,
        /^\|\s*Workload\s*\|\s*TCP\s*\|\s*WebSocket\s*\|\s*WebSocket \/ TCP\s*\|$/m,
      );
      for (
        const title of ["1 → 1, 64 B \\(msg\\/s\\)", "fan-out 1 → 8, 64 B \\(deliveries\\/s\\)"]
      ) {
        assert.match(
          markdown,
          new RegExp(
            String
              .raw`^\|\s*${title}\s*\|[^|]*\(gen CPU \d+%[^|]*\|[^|]*\(gen CPU \d+%[^|]*\|\s*[\d.]+×\s*\|$`,
            "m",
          ),
        );
      }
      assert.match(
        markdown,
        /\|\s*HTTP publish, 64 in flight, 64 B \(req\/s\)\s*\|\s*[\d.]+[kM]? req\/s \(gen CPU/,
      );
      const http = results.rows.find((r) => r.workload === "http-publish" && r.broker === "mb");
      assert.deepEqual(
        http?.result?.checks.map((check) => check.name),
        ["sub-0 deliveries", "HTTP 202 responses"],
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
