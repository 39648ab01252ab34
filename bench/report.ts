// Copyright mb authors. MIT license.
// Renders results.json as RESULTS.md: the main table (figure and CPU per
// cell, mb / best peer), mb against each peer, and the workload list.

import type { LoadResult, RoundFigures } from "./load_spec.ts";
import type { BenchResults, Row } from "./results.ts";
import { type Workload, WORKLOADS } from "./workloads.ts";

/** Generator CPU at or above which a cell is marked as possibly generator-bound. */
export const GENERATOR_BOUND_PERCENT = 90;

/** One line of the tables: a figure of one workload. */
interface Metric {
  workload: Workload;
  label: string;
  higherIsBetter: boolean;
  value(result: LoadResult): number;
  format(result: LoadResult): string;
  /** The figure per round, for the spread table (throughput rows only). */
  perRound?: (round: RoundFigures) => number;
}

/**
 * Three significant digits with k / M suffixes: `1.52M`, `110k`, `13.1k`.
 *
 * @param value A rate.
 * @returns The short form.
 */
export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return "?";
  if (value >= 1e6) return `${trim((value / 1e6).toPrecision(3))}M`;
  if (value >= 1e3) return `${trim((value / 1e3).toPrecision(3))}k`;
  return trim(value.toPrecision(3));
}

function trim(text: string): string {
  return text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text;
}

function formatMicros(value: number): string {
  return value >= 100 ? `${Math.round(value)} µs` : `${value.toFixed(1)} µs`;
}

function metricsFor(workload: Workload): Metric[] {
  switch (workload.headline) {
    case "messages":
      return [{
        workload,
        label: `${workload.title} (${workload.unit})`,
        higherIsBetter: true,
        value: (r) => r.messagesPerSecond,
        perRound: (r) => r.messagesPerSecond,
        format: (r) =>
          workload.payloadBytes >= 1024
            ? `${formatRate(r.messagesPerSecond)} msg/s = ${
              Math.round(r.megabytesPerSecond).toLocaleString("en-US")
            } MB/s`
            : `${formatRate(r.messagesPerSecond)} ${workload.unit}`,
      }];
    case "deliveries":
      return [{
        workload,
        label: `${workload.title} (deliveries/s)`,
        higherIsBetter: true,
        value: (r) => r.deliveriesPerSecond,
        perRound: (r) => r.deliveriesPerSecond,
        format: (r) => `${formatRate(r.deliveriesPerSecond)} deliveries/s`,
      }];
    case "latency":
      return (["p50", "p99"] as const).map((which) => ({
        workload,
        label: `${workload.title}, ${which} (µs, lower is better)`,
        higherIsBetter: false,
        value: (r: LoadResult) => (which === "p50" ? r.p50Micros : r.p99Micros) ?? NaN,
        format: (r: LoadResult) =>
          formatMicros((which === "p50" ? r.p50Micros : r.p99Micros) ?? NaN),
      }));
  }
}

function cpuNote(result: LoadResult): string {
  const gen = Math.round(result.generatorCpuPercent);
  const mark = result.generatorCpuPercent >= GENERATOR_BOUND_PERCENT ? " †" : "";
  return `(gen CPU ${gen}%${mark}, broker CPU ${Math.round(result.brokerCpuPercent)}%)`;
}

function shortError(note: string | undefined): string {
  const text = (note ?? "unknown error").replace(/\s+/g, " ").replace(/\|/g, "/");
  return text.length > 90 ? `${text.slice(0, 87)}...` : text;
}

function cell(row: Row | undefined, metric: Metric): string {
  if (row === undefined) return "not run";
  if (row.status === "n/a") return `n/a (${row.note ?? "does not apply"})`;
  if (row.status === "failed" || row.result === undefined) {
    return `**FAILED**: ${shortError(row.note)}`;
  }
  return `${metric.format(row.result)} ${cpuNote(row.result)}`;
}

function okValue(row: Row | undefined, metric: Metric): number | undefined {
  if (row?.status !== "ok" || row.result === undefined) return undefined;
  const value = metric.value(row.result);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function ratio(mb: number | undefined, peer: number | undefined): string {
  if (mb === undefined || peer === undefined) return "—";
  const value = mb / peer;
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

function spread(row: Row | undefined, metric: Metric): string {
  const rounds = row?.status === "ok" ? row.result?.rounds : undefined;
  if (rounds === undefined || rounds.length < 2 || metric.perRound === undefined) return "—";
  const values = rounds.map(metric.perRound);
  return `${formatRate(Math.min(...values))}–${formatRate(Math.max(...values))}`;
}

function table(header: string[], body: string[][]): string {
  const lines = [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...body.map((cells) => `| ${cells.join(" | ")} |`),
  ];
  return lines.join("\n");
}

function formatDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  return minutes > 0 ? `${minutes} min ${rest} s` : `${rest} s`;
}

/**
 * The WebSocket / TCP table's rows: each row that runs a TCP row's workload
 * over WebSocket (its `sameAs`), beside mb's figure for that TCP row.
 *
 * @param results The run.
 * @param find Looks a row up.
 * @returns Workload, TCP cell, WebSocket cell, ratio.
 */
function webComparisons(
  results: BenchResults,
  find: (workload: string, broker: string) => Row | undefined,
): string[][] {
  if (!results.brokers.some((broker) => broker.id === "mb")) return [];
  const byId = new Map(WORKLOADS.map((workload) => [workload.id, workload]));
  return results.workloads.flatMap((workload) => {
    if (workload.sameAs === undefined || workload.transport !== "ws") return [];
    const tcpWorkload = byId.get(workload.sameAs);
    if (tcpWorkload === undefined) return [];
    const [metric] = metricsFor(workload);
    const [tcpMetric] = metricsFor(tcpWorkload);
    const row = find(workload.id, "mb");
    const tcpRow = find(tcpWorkload.id, "mb");
    return [[
      tcpMetric.label,
      cell(tcpRow, tcpMetric),
      cell(row, metric),
      ratio(okValue(row, metric), okValue(tcpRow, tcpMetric)),
    ]];
  });
}

/**
 * Renders the report.
 *
 * @param results A run's results.
 * @returns Markdown for RESULTS.md.
 */
export function renderMarkdown(results: BenchResults): string {
  const find = (workload: string, broker: string) =>
    results.rows.find((row) => row.workload === workload && row.broker === broker);
  const peers = results.brokers.filter((broker) => broker.id !== "mb");
  const hasMb = results.brokers.some((broker) => broker.id === "mb");
  const metrics = results.workloads.flatMap(metricsFor);

  const main = metrics.map((metric) => {
    const cells = results.brokers.map((broker) =>
      cell(find(metric.workload.id, broker.id), metric)
    );
    if (!hasMb) return [metric.label, ...cells];
    const mb = okValue(find(metric.workload.id, "mb"), metric);
    let best: { label: string; value: number } | undefined;
    for (const peer of peers) {
      const value = okValue(find(metric.workload.id, peer.id), metric);
      if (value === undefined) continue;
      const better = best === undefined ||
        (metric.higherIsBetter ? value > best.value : value < best.value);
      if (better) best = { label: peer.label, value };
    }
    const column = best === undefined ? "—" : `${ratio(mb, best.value)} (${best.label})`;
    return [metric.label, ...cells, column];
  });
  const mainHeader = ["Workload", ...results.brokers.map((b) => b.label)];
  if (hasMb) mainHeader.push("mb / best peer");

  const versions = Object.entries(results.versions).map(([name, version]) => `${name} ${version}`)
    .join(", ");
  const machine = results.machine;
  const pinning = results.pinning === undefined
    ? "none (fewer than 2 CPUs or taskset missing): brokers and generator share the CPUs"
    : `each broker on core ${results.pinning.broker} (\`taskset -c ${results.pinning.broker}\`), ` +
      `the load generator on core ${results.pinning.generator} ` +
      `(\`taskset -c ${results.pinning.generator}\`)`;

  const parts = [
    "# mb benchmark results",
    "",
    `- Date: ${results.date}`,
    `- Mode: ${
      results.quick ? "--quick (small counts: a smoke test, not a measurement)" : "full"
    }; ` +
    `the whole run took ${formatDuration(results.seconds)}`,
    `- Machine: ${machine.nproc} CPUs (${machine.cpu}), Linux ${machine.kernel}, ` +
    `${machine.memoryGiB} GiB`,
    `- Pinning: ${pinning}`,
    `- Versions: ${versions}`,
    "",
    (results.rounds > 1
      ? `Each throughput figure is the median of ${results.rounds} measured rounds on the same ` +
        "connections (the spread is in the last table); latency is one run of round trips. "
      : "") +
    "Each cell is the figure, then the CPU used over the measured phase in percent of one core: " +
    "`gen` is the load generator (one Deno process that runs publishers and subscribers), " +
    "`broker` is the broker process. A broker near 100% is the bottleneck; " +
    `† marks a generator at ${GENERATOR_BOUND_PERCENT}% or more, where the figure may be ` +
    "limited by the generator rather than the broker. Every figure is from a run whose " +
    "delivered counts matched the expected counts exactly; a run that did not is shown as " +
    "FAILED. See bench/README.md for what each workload does.",
    "",
    "## Results",
    "",
    table(mainHeader, main),
  ];
  if (hasMb && peers.length > 0) {
    const ratios = metrics.map((metric) => {
      const mb = okValue(find(metric.workload.id, "mb"), metric);
      return [
        metric.label,
        ...peers.map((peer) => ratio(mb, okValue(find(metric.workload.id, peer.id), metric))),
      ];
    });
    parts.push(
      "",
      "## mb relative to each peer",
      "",
      "mb's figure divided by the peer's. For throughput rows, above 1 means mb is faster; " +
        "for latency rows (lower is better), below 1 means mb is faster.",
      "",
      table(["Workload", ...peers.map((peer) => `mb / ${peer.label}`)], ratios),
    );
  }
  const web = webComparisons(results, find);
  if (web.length > 0) {
    parts.push(
      "",
      "## mb over WebSocket relative to TCP",
      "",
      "The same workload, counts, window and batch, with the connections on WebSockets to mb's " +
        "web listener instead of raw TCP; the last column is the WebSocket figure divided by " +
        "the TCP one, so below 1 is the cost of the WebSocket path.",
      "",
      table(["Workload", "TCP", "WebSocket", "WebSocket / TCP"], web),
    );
  }
  if (results.rounds > 1) {
    const spreads = metrics.filter((metric) => metric.perRound !== undefined).map((metric) => [
      metric.label,
      ...results.brokers.map((broker) => spread(find(metric.workload.id, broker.id), metric)),
    ]);
    parts.push(
      "",
      `## Spread over the ${results.rounds} rounds (slowest–fastest)`,
      "",
      table(["Workload", ...results.brokers.map((b) => b.label)], spreads),
    );
  }
  parts.push(
    "",
    "## Workloads",
    "",
    table(
      ["Workload", "Messages per round (warm-up)", "Window", "Batch", "What it does"],
      results.workloads.map((w) => [
        w.title,
        `${w.count.toLocaleString("en-US")} (${w.warmupCount.toLocaleString("en-US")})`,
        String(w.window),
        String(w.batch),
        w.description,
      ]),
    ),
  );
  if (results.workloads.some((workload) => workload.transport !== "tcp")) {
    parts.push(
      "",
      "Web rows (WebSocket, HTTP publish) run against mb only, on one broker started with " +
        "`--http-port` on a free port besides its TCP port; the other mb rows run with " +
        "`--http-port off`.",
    );
  }
  if (results.workloads.some((workload) => workload.store !== undefined)) {
    parts.push(
      "",
      "Store rows (durable confirmed publish, stream replay, queue acks) run against mb only, " +
        "through its client library: each gets a broker of its own with a fresh temporary " +
        "data directory (removed afterwards) and the fsync policy its row names; the other mb " +
        "rows run with `--data :memory:`. The peers' durable modes (NATS JetStream, Redis " +
        "Streams, MQTT QoS 1) are not measured yet.",
    );
  }
  const failures = results.rows.filter((row) => row.status === "failed");
  if (failures.length > 0) {
    parts.push(
      "",
      "## Failures",
      "",
      ...failures.map((row) => `- ${row.broker}, ${row.workload}: ${row.note ?? "unknown error"}`),
    );
  }
  return parts.join("\n") + "\n";
}
