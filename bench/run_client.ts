// Copyright mb authors. MIT license.
// The client-library runner (mb only): the 1 → 1, 64 B workload through
// mb's own client, as an application would write it: `await publish()` in a
// loop, and a subscription with a callback.

import { type Client, connect } from "../mod.ts";
import { Flow, type Tally } from "./flow.ts";
import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { measureExactRounds, roundUp, watchStall } from "./_run_common.ts";

/**
 * Runs the client-library workload against an mb broker.
 *
 * @param spec What to run; the protocol must be `mb`.
 * @returns The result.
 * @throws {Error} When the client fails or deliveries stall.
 */
export async function runClient(spec: LoadSpec): Promise<LoadResult> {
  if (spec.protocol !== "mb") throw new Error("The client-library workload needs an mb broker");
  const workload = spec.workload;
  const url = `mb://${spec.host}:${spec.port}`;
  const clients: Client[] = [];
  let stopWatch: (() => void) | undefined;
  try {
    const subscriber = await connect(url, { name: "bench-client-sub" });
    clients.push(subscriber);
    const publisher = await connect(url, { name: "bench-client-pub" });
    clients.push(publisher);
    const topic = "bench/t";
    const tally: Tally = { delivered: 0, replies: 0 };
    const flow = new Flow([{ tally, field: "delivered", share: 1, name: "sub deliveries" }]);
    subscriber.subscribe(topic, {
      callback: () => {
        tally.delivered++;
        flow.notify();
      },
    });
    await subscriber.flush();
    for (const client of clients) {
      client.closed.then((error) => {
        flow.fail(new Error(`client connection ended: ${error?.message ?? "closed"}`));
      });
    }
    stopWatch = watchStall(flow, spec.stallMs);

    const payload = new Uint8Array(workload.payloadBytes).fill(0x61);
    const phase = async (total: number) => {
      flow.reset();
      for (let sent = 0; sent < total; sent += workload.batch) {
        const claimed = flow.claim(workload.batch);
        if (claimed - workload.window > flow.progress()) {
          await flow.waitProgress(claimed - workload.window);
        }
        for (let i = 0; i < workload.batch; i++) await publisher.publish(topic, payload);
      }
      await flow.waitProgress(total);
    };

    await phase(roundUp(spec.warmup, workload.batch));
    return await measureExactRounds(spec, flow, phase);
  } finally {
    stopWatch?.();
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
  }
}
