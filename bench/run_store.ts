// Copyright mb authors. MIT license.
// The store runners (mb only, through mb's own client library, against a
// broker with a fresh data directory): confirmed publish into a stream,
// replay of a stream from its first message, and a work queue consumed and
// acked by one consumer.

import { type Client, connect } from "../mod.ts";
import { cpuSnapshot } from "./cpu.ts";
import { Flow, type Tally } from "./flow.ts";
import type { Check, LoadResult, LoadSpec } from "./load_spec.ts";
import { measureRounds, roundUp, toResult, watchStall } from "./_run_common.ts";

const TOPIC = "bench/t";
const PATTERN = "bench/#";
const STREAM = "bench";
const QUEUE = "bench-jobs";
/** Confirmed publishes or queue sends in flight during a (not timed) setup. */
const SETUP_WINDOW = 1_000;
/** Setup operations started per claim of the window. */
const SETUP_BATCH = 100;
/** Long enough that no job is delivered again during a round. */
const ACK_WAIT_MS = 600_000;

function asError(error: unknown, what: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${what}: ${message}`);
}

/**
 * Starts `total` operations with at most `window` of them unsettled,
 * claiming `batch` at a time; `start` begins one, whose settling must move
 * the flow's gauge.
 *
 * @param flow The flow, reset by the caller.
 * @param total Operations to start.
 * @param window Most unsettled at once.
 * @param batch Operations started per claim.
 * @param start Begins one operation.
 * @returns Resolves when all `total` have settled.
 */
async function pipeline(
  flow: Flow,
  total: number,
  window: number,
  batch: number,
  start: () => void,
): Promise<void> {
  for (let sent = 0; sent < total; sent += batch) {
    const count = Math.min(batch, total - sent);
    const claimed = flow.claim(count);
    if (claimed - window > flow.progress()) await flow.waitProgress(claimed - window);
    for (let i = 0; i < count; i++) start();
  }
  await flow.waitProgress(total);
}

/** A flow over one tally field, with its watchdog and the client's end wired in. */
interface Tracked {
  tally: Tally;
  flow: Flow;
}

function track(
  client: Client,
  field: "delivered" | "replies",
  name: string,
  stoppers: (() => void)[],
  stallMs: number,
): Tracked {
  const tally: Tally = { delivered: 0, replies: 0 };
  const flow = new Flow([{ tally, field, share: 1, name }]);
  client.closed.then((error) => {
    flow.fail(new Error(`client connection ended: ${error?.message ?? "closed"}`));
  });
  stoppers.push(watchStall(flow, stallMs));
  return { tally, flow };
}

/**
 * Confirmed publishes of the workload's payload into the stream `STREAM`,
 * within the workload's window.
 */
class StreamPublisher {
  readonly tracked: Tracked;
  /** Confirms since the last phase began that carried a stream offset. */
  withOffset = 0;
  #client: Client;
  #payload: Uint8Array;
  #window: number;
  #batch: number;

  constructor(client: Client, tracked: Tracked, spec: LoadSpec, window: number, batch: number) {
    this.#client = client;
    this.tracked = tracked;
    this.#payload = new Uint8Array(spec.workload.payloadBytes).fill(0x61);
    this.#window = window;
    this.#batch = batch;
  }

  async phase(total: number): Promise<void> {
    const { tally, flow } = this.tracked;
    flow.reset();
    this.withOffset = 0;
    const onConfirm = (offset: number | undefined) => {
      if (typeof offset === "number") this.withOffset++;
      tally.replies++;
      flow.notify();
    };
    const onError = (error: unknown) => flow.fail(asError(error, "confirmed publish"));
    await pipeline(flow, total, this.#window, this.#batch, () => {
      this.#client.publish(TOPIC, this.#payload, { confirm: true }).then(onConfirm, onError);
    });
  }
}

async function streamMessages(client: Client): Promise<number> {
  return (await client.streams.info(STREAM)).messages;
}

async function runStreamPublish(
  spec: LoadSpec,
  client: Client,
  stoppers: (() => void)[],
): Promise<LoadResult> {
  await client.streams.create({ name: STREAM, topics: [PATTERN] });
  const tracked = track(client, "replies", "confirms", stoppers, spec.stallMs);
  const publisher = new StreamPublisher(
    client,
    tracked,
    spec,
    spec.workload.window,
    spec.workload.batch,
  );
  await publisher.phase(roundUp(spec.warmup, spec.workload.batch));
  return await measureRounds(spec.rounds, spec.workload.headline, async () => {
    const before = await streamMessages(client);
    const start = cpuSnapshot(spec.brokerPid);
    await publisher.phase(spec.messages);
    const end = cpuSnapshot(spec.brokerPid);
    const stored = (await streamMessages(client)) - before;
    const confirms = tracked.flow.counts()[0].count;
    const checks: Check[] = [
      { name: "confirms", expected: spec.messages, counted: confirms },
      {
        name: "confirms with a stream offset",
        expected: spec.messages,
        counted: publisher.withOffset,
      },
      { name: "messages added to the stream", expected: spec.messages, counted: stored },
    ];
    return toResult({
      start,
      end,
      messages: spec.messages,
      deliveries: confirms,
      payloadBytes: spec.workload.payloadBytes,
      checks,
    });
  });
}

async function runReplay(
  spec: LoadSpec,
  client: Client,
  stoppers: (() => void)[],
): Promise<LoadResult> {
  // Setup, not timed: the stream and its messages.
  await client.streams.create({ name: STREAM, topics: [PATTERN] });
  const stored = track(client, "replies", "confirms", stoppers, spec.stallMs);
  await new StreamPublisher(client, stored, spec, SETUP_WINDOW, SETUP_BATCH).phase(spec.messages);
  const held = await streamMessages(client);
  if (held !== spec.messages) {
    throw new Error(`The stream holds ${held} messages after storing ${spec.messages}`);
  }

  const { tally, flow } = track(client, "delivered", "messages read", stoppers, spec.stallMs);
  let inOrder = 0;
  let next = -1;
  const read = async (max?: number): Promise<void> => {
    flow.reset();
    inOrder = 0;
    next = -1;
    const subscription = client.subscribe(PATTERN, {
      stream: STREAM,
      from: "first",
      ...(max === undefined ? {} : { max }),
      callback: (message) => {
        const offset = message.offset ?? -2;
        if (next < 0 || offset === next) inOrder++;
        next = offset + 1;
        tally.delivered++;
        flow.notify();
      },
    });
    subscription.ready.catch((error) => flow.fail(asError(error, "stream reader")));
    await flow.waitProgress(max ?? spec.messages);
    if (!subscription.ended) await subscription.unsubscribe();
  };

  await read(Math.min(spec.warmup, spec.messages));
  return await measureRounds(spec.rounds, spec.workload.headline, async () => {
    const start = cpuSnapshot(spec.brokerPid);
    await read();
    const end = cpuSnapshot(spec.brokerPid);
    const count = flow.counts()[0].count;
    const checks: Check[] = [
      { name: "messages read", expected: spec.messages, counted: count },
      { name: "offsets in order", expected: spec.messages, counted: inOrder },
    ];
    return toResult({
      start,
      end,
      messages: count,
      deliveries: count,
      payloadBytes: spec.workload.payloadBytes,
      checks,
    });
  });
}

async function runQueue(
  spec: LoadSpec,
  client: Client,
  stoppers: (() => void)[],
): Promise<LoadResult> {
  const workload = spec.workload;
  await client.queues.declare(QUEUE, { ackWaitMs: ACK_WAIT_MS });
  const payload = new Uint8Array(workload.payloadBytes).fill(0x61);
  const sends = track(client, "replies", "sends", stoppers, spec.stallMs);
  const acks = track(client, "replies", "acks resolved", stoppers, spec.stallMs);
  let received = 0;
  let redelivered = 0;

  const fill = async (total: number) => {
    sends.flow.reset();
    const onSent = () => {
      sends.tally.replies++;
      sends.flow.notify();
    };
    const onError = (error: unknown) => sends.flow.fail(asError(error, "queue send"));
    await pipeline(sends.flow, total, SETUP_WINDOW, SETUP_BATCH, () => {
      client.queues.send(QUEUE, payload).then(onSent, onError);
    });
  };
  const drain = async (total: number) => {
    const { tally, flow } = acks;
    flow.reset();
    received = 0;
    redelivered = 0;
    const onAck = () => {
      tally.replies++;
      flow.notify();
    };
    const onError = (error: unknown) => flow.fail(asError(error, "ack"));
    const consumer = client.queues.consume(QUEUE, { prefetch: workload.window });
    const taking = (async () => {
      for await (const job of consumer) {
        received++;
        if (job.deliveryCount > 1) redelivered++;
        job.ack().then(onAck, onError);
      }
    })().catch((error) => flow.fail(asError(error, "queue consumer")));
    await flow.waitProgress(total);
    return async () => {
      await consumer.close();
      await taking;
    };
  };

  const warmup = Math.min(spec.warmup, spec.messages);
  await fill(warmup);
  await (await drain(warmup))();
  return await measureRounds(spec.rounds, workload.headline, async () => {
    await fill(spec.messages);
    const start = cpuSnapshot(spec.brokerPid);
    const close = await drain(spec.messages);
    const end = cpuSnapshot(spec.brokerPid);
    await close();
    const info = await client.queues.info(QUEUE);
    const acked = acks.flow.counts()[0].count;
    const checks: Check[] = [
      { name: "jobs received", expected: spec.messages, counted: received },
      { name: "acks resolved", expected: spec.messages, counted: acked },
      { name: "jobs delivered again", expected: 0, counted: redelivered },
      { name: "jobs left in the queue", expected: 0, counted: info.messages },
    ];
    return toResult({
      start,
      end,
      messages: acked,
      deliveries: received,
      payloadBytes: workload.payloadBytes,
      checks,
    });
  });
}

/**
 * Runs a store workload (`stream-publish`, `replay` or `queue`) against an
 * mb broker that has a store.
 *
 * @param spec What to run; the protocol must be `mb`.
 * @returns The result.
 * @throws {Error} When the client fails, the store refuses, or progress stalls.
 */
export async function runStore(spec: LoadSpec): Promise<LoadResult> {
  if (spec.protocol !== "mb") throw new Error("The store workloads need an mb broker");
  const client = await connect(`mb://${spec.host}:${spec.port}`, {
    name: `bench-${spec.workload.id}`,
  });
  const stoppers: (() => void)[] = [];
  try {
    switch (spec.workload.kind) {
      case "stream-publish":
        return await runStreamPublish(spec, client, stoppers);
      case "replay":
        return await runReplay(spec, client, stoppers);
      case "queue":
        return await runQueue(spec, client, stoppers);
      default:
        throw new Error(`${spec.workload.id} is not a store workload`);
    }
  } finally {
    for (const stop of stoppers) stop();
    await client.close().catch(() => {});
  }
}
