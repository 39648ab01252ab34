// Copyright mb authors. MIT license.
// The workloads: what each row of the report measures, with its message
// counts. Every broker gets the same counts.

/** Workload ids, as used by `--workloads`. */
export type WorkloadId =
  | "1to1-64b"
  | "1to1-64k"
  | "fanout-8"
  | "fanin-8"
  | "latency"
  | "topics-2000"
  | "confirm"
  | "client";

/** A count for a full run and one for `--quick`. */
export interface Counts {
  /** Full run. */
  full: number;
  /** `--quick`. */
  quick: number;
}

/**
 * Measured rounds per row (the median is reported); the latency row always
 * has one round of `messages` samples.
 */
export const ROUNDS: Counts = { full: 3, quick: 1 };

/** One benchmark workload. */
export interface Workload {
  /** Id for `--workloads` and results.json. */
  id: WorkloadId;
  /** Row title in RESULTS.md. */
  title: string;
  /** Which runner: raw-socket throughput, one-in-flight latency, or mb's client library. */
  kind: "throughput" | "latency" | "client";
  /** The figure reported: published msg/s, deliveries/s, or latency percentiles. */
  headline: "messages" | "deliveries" | "latency";
  /** Runs against mb only; other brokers get "n/a". */
  mbOnly: boolean;
  /** Publisher connections; each publishes `messages / publishers`. */
  publishers: number;
  /** Subscriber connections on the one topic (when `topics` is 1). */
  subscribers: number;
  /** Distinct topics, published round-robin (1, or 2000). */
  topics: number;
  /** With several topics: connections that share the exact subscriptions. */
  exactConnections: number;
  /** With several topics: one more connection subscribes to a wildcard over all of them. */
  wildcard: boolean;
  /** Payload size in bytes. */
  payloadBytes: number;
  /** Publish with confirmation (mb request ids, answered by Ok). */
  confirm: boolean;
  /** Measured messages per round (published, in total over publishers; or round trips). */
  messages: Counts;
  /** Messages sent first, not measured, to warm up both sides. */
  warmup: Counts;
  /** Most published messages any receiver may lag behind. */
  window: number;
  /** Messages per pre-encoded write, per publisher. */
  batch: number;
  /** One line for the README and the report. */
  description: string;
}

const BASE = {
  kind: "throughput",
  headline: "messages",
  mbOnly: false,
  publishers: 1,
  subscribers: 1,
  topics: 1,
  exactConnections: 0,
  wildcard: false,
  payloadBytes: 64,
  confirm: false,
  window: 20_000,
  batch: 1_000,
} as const;

/** Every workload, in report order. */
export const WORKLOADS: readonly Workload[] = [
  {
    ...BASE,
    id: "1to1-64b",
    title: "1 → 1, 64 B",
    messages: { full: 1_000_000, quick: 50_000 },
    warmup: { full: 100_000, quick: 5_000 },
    description: "one publisher, one subscriber, one topic, 64-byte payloads",
  },
  {
    ...BASE,
    id: "1to1-64k",
    title: "1 → 1, 64 KiB",
    payloadBytes: 64 * 1024,
    messages: { full: 20_000, quick: 1_000 },
    warmup: { full: 2_000, quick: 100 },
    window: 64,
    batch: 4,
    description: "one publisher, one subscriber, 65536-byte payloads; also in MB/s (10^6 bytes)",
  },
  {
    ...BASE,
    id: "fanout-8",
    title: "fan-out 1 → 8, 64 B",
    headline: "deliveries",
    subscribers: 8,
    messages: { full: 150_000, quick: 10_000 },
    warmup: { full: 20_000, quick: 1_000 },
    description: "one publisher, eight subscriber connections on the same topic; deliveries/s",
  },
  {
    ...BASE,
    id: "fanin-8",
    title: "fan-in 8 → 1, 64 B",
    publishers: 8,
    batch: 500,
    messages: { full: 800_000, quick: 48_000 },
    warmup: { full: 96_000, quick: 8_000 },
    description: "eight publisher connections, one subscriber, one topic",
  },
  {
    ...BASE,
    id: "latency",
    title: "latency, 1 in flight, 64 B",
    kind: "latency",
    headline: "latency",
    messages: { full: 20_000, quick: 1_000 },
    warmup: { full: 2_000, quick: 200 },
    window: 1,
    batch: 1,
    description: "publish one message, wait until the subscriber has it, repeat; p50 and p99",
  },
  {
    ...BASE,
    id: "topics-2000",
    title: "2,000 topics + 1 wildcard, 64 B",
    headline: "deliveries",
    topics: 2_000,
    exactConnections: 4,
    wildcard: true,
    batch: 2_000,
    messages: { full: 300_000, quick: 10_000 },
    warmup: { full: 20_000, quick: 2_000 },
    description: "2,000 exact subscriptions on 4 connections and one wildcard subscription on " +
      "a fifth; publishes round-robin over the 2,000 topics, so each message is delivered " +
      "twice; deliveries/s",
  },
  {
    ...BASE,
    id: "confirm",
    title: "confirmed publish (core; durable rows arrive with the store)",
    mbOnly: true,
    confirm: true,
    messages: { full: 1_000_000, quick: 50_000 },
    warmup: { full: 100_000, quick: 5_000 },
    description: "mb only: 1 → 1, 64 B, every publish with a non-zero request id; the broker " +
      "answers each with Ok, and every Ok and every delivery is counted",
  },
  {
    ...BASE,
    id: "client",
    title: "mb client library 1 → 1, 64 B",
    kind: "client",
    mbOnly: true,
    messages: { full: 1_000_000, quick: 50_000 },
    warmup: { full: 100_000, quick: 5_000 },
    description: "mb only: the 1 → 1, 64 B row through mb's own client (`connect`, " +
      "`await publish` in a loop, `subscribe` with a callback), to show the client's cost",
  },
];

/**
 * Looks a workload up by id.
 *
 * @param id The id.
 * @returns The workload.
 * @throws {Error} When no workload has this id.
 */
export function workloadById(id: string): Workload {
  const workload = WORKLOADS.find((candidate) => candidate.id === id);
  if (workload === undefined) {
    throw new Error(
      `Unknown workload ${JSON.stringify(id)}: choose from ${
        WORKLOADS.map((w) => w.id).join(", ")
      }`,
    );
  }
  return workload;
}
