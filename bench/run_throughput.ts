// Copyright mb authors. MIT license.
// The throughput runner: raw-socket publishers write one pre-encoded batch
// over and over, within the window; raw-socket subscribers count
// deliveries. Covers 1 → 1, fan-out, fan-in, 2,000 topics and confirmed
// publish, over TCP, and (mb) 1 → 1 and fan-out over WebSocket.

import { type BenchConnection, TcpConnection } from "./connection.ts";
import { cpuSnapshot } from "./cpu.ts";
import { Flow, type Gauge } from "./flow.ts";
import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { type Protocol, PROTOCOLS } from "./protocols/mod.ts";
import { closeAll, exactChecks, guard, measureRounds, roundUp, toResult } from "./_run_common.ts";
import type { Workload } from "./workloads.ts";
import { WebSocketConnection } from "./ws_connection.ts";

/** How long to wait for a handshake or subscription to be acknowledged. */
const SETUP_TIMEOUT_MS = 20_000;

/** One subscriber connection: what it subscribes to and its share of the messages. */
interface SubscriberPlan {
  name: string;
  exact: string[];
  wildcards: string[];
  /** Deliveries per published message, on average. */
  share: number;
}

/**
 * The topics published to, round-robin, for `workload`.
 *
 * @param workload The workload.
 * @param protocol Its protocol, which spells topics.
 * @returns The topics.
 */
export function publishTopics(workload: Workload, protocol: Protocol): string[] {
  if (workload.topics === 1) return [protocol.topic(["bench", "t"])];
  return Array.from(
    { length: workload.topics },
    (_, i) => protocol.topic(["bench", `t${String(i).padStart(4, "0")}`]),
  );
}

function subscriberPlan(
  workload: Workload,
  topics: string[],
  protocol: Protocol,
): SubscriberPlan[] {
  if (workload.topics === 1) {
    return Array.from({ length: workload.subscribers }, (_, i) => ({
      name: `sub-${i}`,
      exact: topics,
      wildcards: [],
      share: 1,
    }));
  }
  const groups = workload.exactConnections;
  if (workload.topics % groups !== 0) {
    throw new Error(`${workload.id}: ${workload.topics} topics do not split over ${groups}`);
  }
  const plan: SubscriberPlan[] = Array.from({ length: groups }, (_, i) => ({
    name: `sub-${i}`,
    exact: topics.filter((_, t) => t % groups === i),
    wildcards: [],
    share: 1 / groups,
  }));
  if (workload.wildcard) {
    plan.push({ name: "sub-wild", exact: [], wildcards: [protocol.wildcard(["bench"])], share: 1 });
  }
  return plan;
}

/**
 * How the workload's connections are opened: raw TCP to the broker's port,
 * or a WebSocket to mb's web listener.
 *
 * @param spec The run.
 * @param protocol Its protocol.
 * @returns Opens one connection with the given client name.
 * @throws {Error} For a WebSocket workload without a web listener port.
 */
function connectionOpener(
  spec: LoadSpec,
  protocol: Protocol,
): (clientId: string) => Promise<BenchConnection> {
  const transport = spec.workload.transport;
  if (transport === "tcp" || transport === "mqtt") {
    return (clientId) =>
      TcpConnection.open(protocol, {
        host: spec.host,
        port: spec.port,
        clientId,
        timeoutMs: SETUP_TIMEOUT_MS,
      });
  }
  if (transport !== "ws" || spec.httpPort === undefined) {
    throw new Error(`${spec.workload.id}: needs a broker with a web listener (--http-port)`);
  }
  const url = `ws://${spec.host}:${spec.httpPort}/`;
  return (clientId) =>
    WebSocketConnection.open(protocol, { url, clientId, timeoutMs: SETUP_TIMEOUT_MS });
}

/**
 * Runs a throughput workload: warm-up, then the measured phase, then exact
 * count checks on every receiver.
 *
 * @param spec What to run, and against which broker.
 * @returns The result; `ok` is false when a count is off.
 * @throws {Error} When a connection, subscription or the flow fails.
 */
export async function runThroughput(spec: LoadSpec): Promise<LoadResult> {
  const workload = spec.workload;
  const protocol = PROTOCOLS[spec.protocol];
  if (workload.confirm && !protocol.canConfirm) {
    throw new Error(`${workload.id}: ${protocol.name} has no confirmed publish`);
  }
  const publishers = workload.publishers;
  const step = workload.batch * publishers;
  if (spec.messages % step !== 0) {
    throw new Error(
      `${workload.id}: ${spec.messages} messages is not a multiple of ${step} (batch × publishers)`,
    );
  }
  if (workload.topics > 1 && workload.batch % workload.topics !== 0) {
    throw new Error(`${workload.id}: the batch must hold every topic equally often`);
  }
  const topics = publishTopics(workload, protocol);
  const open = connectionOpener(spec, protocol);
  const connections: BenchConnection[] = [];
  let stopGuard = () => {};
  try {
    const gauges: Gauge[] = [];
    for (const entry of subscriberPlan(workload, topics, protocol)) {
      const connection = await open(entry.name);
      connections.push(connection);
      const subscribe = protocol.subscribe(entry.exact, entry.wildcards);
      const before = connection.counter.replies;
      await connection.write(subscribe.bytes);
      await connection.waitReplies(before + subscribe.replies, SETUP_TIMEOUT_MS, "subscribe");
      gauges.push({
        tally: connection.counter,
        field: "delivered",
        share: entry.share,
        name: `${entry.name} deliveries`,
      });
    }
    const publisherConnections: BenchConnection[] = [];
    const repliesPerPublish = workload.confirm ? 1 : protocol.repliesPerPublish;
    for (let p = 0; p < publishers; p++) {
      const connection = await open(`pub-${p}`);
      connections.push(connection);
      publisherConnections.push(connection);
      if (repliesPerPublish > 0) {
        gauges.push({
          tally: connection.counter,
          field: "replies",
          share: repliesPerPublish / publishers,
          name: `pub-${p} replies`,
        });
      }
    }
    const payload = new Uint8Array(workload.payloadBytes).fill(0x61);
    const batch = protocol.publishes(topics, payload, workload.batch, {
      confirm: workload.confirm,
    });
    const flow = new Flow(gauges);
    stopGuard = guard(flow, connections, spec.stallMs);

    const phase = async (total: number) => {
      flow.reset();
      const perPublisher = total / publishers;
      await Promise.all(
        publisherConnections.map(async (connection) => {
          for (let sent = 0; sent < perPublisher; sent += workload.batch) {
            const claimed = flow.claim(workload.batch);
            if (claimed - workload.window > flow.progress()) {
              await flow.waitProgress(claimed - workload.window);
            }
            await connection.write(batch);
          }
        }),
      );
      await flow.waitProgress(total);
    };

    await phase(roundUp(spec.warmup, step));
    return await measureRounds(spec.rounds, workload.headline, async () => {
      const start = cpuSnapshot(spec.brokerPid);
      await phase(spec.messages);
      const end = cpuSnapshot(spec.brokerPid);
      const checks = exactChecks(flow, spec.messages);
      let deliveries = 0;
      for (let i = 0; i < gauges.length; i++) {
        if (gauges[i].field === "delivered") deliveries += checks[i].counted;
      }
      return toResult({
        start,
        end,
        messages: spec.messages,
        deliveries,
        payloadBytes: workload.payloadBytes,
        checks,
      });
    });
  } finally {
    stopGuard();
    await closeAll(connections);
  }
}
