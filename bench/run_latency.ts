// Copyright mb authors. MIT license.
// The latency runner: one message in flight. Publish one pre-encoded
// message, wait until the subscriber's counter sees it, repeat; report the
// median and the 99th percentile.

import { type BenchConnection, TcpConnection } from "./connection.ts";
import { cpuSnapshot } from "./cpu.ts";
import { Flow } from "./flow.ts";
import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { PROTOCOLS } from "./protocols/mod.ts";
import { closeAll, exactChecks, guard, toResult } from "./_run_common.ts";
import { publishTopics } from "./run_throughput.ts";

const SETUP_TIMEOUT_MS = 20_000;

/**
 * The value at quantile `q` of ascending `sorted`.
 *
 * @param sorted Samples in ascending order.
 * @param q Between 0 and 1.
 * @returns The sample at that rank (nearest rank).
 */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Runs the latency workload.
 *
 * @param spec What to run, and against which broker.
 * @returns The result with `p50Micros` and `p99Micros`.
 * @throws {Error} When a connection fails or a message does not arrive.
 */
export async function runLatency(spec: LoadSpec): Promise<LoadResult> {
  const workload = spec.workload;
  const protocol = PROTOCOLS[spec.protocol];
  const topics = publishTopics(workload, protocol);
  const open = (clientId: string) =>
    TcpConnection.open(protocol, {
      host: spec.host,
      port: spec.port,
      clientId,
      timeoutMs: SETUP_TIMEOUT_MS,
    });
  const connections: BenchConnection[] = [];
  let stopGuard = () => {};
  try {
    const subscriber = await open("sub-0");
    connections.push(subscriber);
    const subscribe = protocol.subscribe(topics, []);
    await subscriber.write(subscribe.bytes);
    await subscriber.waitReplies(
      subscriber.counter.replies + subscribe.replies,
      SETUP_TIMEOUT_MS,
      "subscribe",
    );
    const publisher = await open("pub-0");
    connections.push(publisher);
    // Only the delivery is timed; publish replies (Redis) are checked at the end.
    const repliesBefore = publisher.counter.replies;
    const flow = new Flow([
      { tally: subscriber.counter, field: "delivered", share: 1, name: "sub-0 deliveries" },
    ]);
    stopGuard = guard(flow, connections, spec.stallMs);
    const frame = protocol.publishes(topics, new Uint8Array(workload.payloadBytes).fill(0x61), 1);
    const samples = new Float64Array(spec.messages);

    const phase = async (count: number, record: boolean) => {
      flow.reset();
      for (let i = 0; i < count; i++) {
        const sentAt = performance.now();
        const claimed = flow.claim(1);
        const written = publisher.write(frame);
        await flow.waitProgress(claimed);
        if (record) samples[i] = performance.now() - sentAt;
        await written;
      }
    };

    await phase(spec.warmup, false);
    const start = cpuSnapshot(spec.brokerPid);
    await phase(spec.messages, true);
    const end = cpuSnapshot(spec.brokerPid);
    samples.sort();
    const checks = exactChecks(flow, spec.messages);
    if (protocol.repliesPerPublish > 0) {
      const expected = protocol.repliesPerPublish * (spec.warmup + spec.messages);
      await publisher.waitReplies(repliesBefore + expected, SETUP_TIMEOUT_MS, "publish replies")
        .catch(() => {});
      checks.push({
        name: "pub-0 replies",
        expected,
        counted: publisher.counter.replies - repliesBefore,
      });
    }
    return {
      ...toResult({
        start,
        end,
        messages: spec.messages,
        deliveries: checks[0].counted,
        payloadBytes: workload.payloadBytes,
        checks,
      }),
      p50Micros: quantile(samples, 0.5) * 1000,
      p99Micros: quantile(samples, 0.99) * 1000,
    };
  } finally {
    stopGuard();
    await closeAll(connections);
  }
}
