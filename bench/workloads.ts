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
  | "durable-always"
  | "durable-interval"
  | "durable-never"
  | "replay"
  | "queue-acks"
  | "client"
  | "ws-1to1-64b"
  | "ws-fanout-8"
  | "http-publish"
  | "mqtt-qos0";

/** When mb's store syncs to disk: its `--fsync` flag. */
export type FsyncPolicy = "always" | "interval" | "never";

/**
 * The store an mb row runs against: a fresh temporary data directory
 * (`--data DIR`), made for that row alone and removed after it, with this
 * fsync policy.
 */
export interface StoreSetup {
  /** `--fsync`. */
  fsync: FsyncPolicy;
  /** `--fsync-interval`, in milliseconds (only with `fsync: "interval"`). */
  fsyncIntervalMs?: number;
}

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
  /**
   * Which runner: raw-socket throughput, one-in-flight latency, mb's client
   * library, or (through mb's client library, against mb's store) confirmed
   * publish into a stream, stream replay, or a work queue.
   */
  kind:
    | "throughput"
    | "latency"
    | "client"
    | "stream-publish"
    | "replay"
    | "queue"
    | "http-publish";
  /**
   * How the load generator reaches the broker: raw TCP, WebSocket (mb's web
   * listener, subprotocol `mb.v1`, carrying the same frames), or HTTP
   * requests to mb's HTTP API. Web rows run against an mb broker started
   * with `--http-port`.
   */
  transport: "tcp" | "ws" | "http" | "mqtt";
  /**
   * For a row that runs a TCP row's workload over another transport: that
   * row, which the report divides by (WebSocket / TCP).
   */
  sameAs?: WorkloadId;
  /**
   * The figure reported: a rate of messages (`unit`: published msg/s, or
   * what the row counts), deliveries/s, or latency percentiles.
   */
  headline: "messages" | "deliveries" | "latency";
  /**
   * The unit of the `messages` headline: `msg/s`, `jobs/s` for the queue
   * row, `req/s` for HTTP publish.
   */
  unit: "msg/s" | "jobs/s" | "req/s";
  /**
   * mb only: the row gets its own broker with a fresh data directory and
   * this fsync policy. Without it, mb runs with `--data :memory:` (no
   * persistence, like the peers) and its rows share one broker.
   */
  store?: StoreSetup;
  /** Runs against mb only; other brokers get "n/a". */
  mbOnly: boolean;
  /**
   * An MQTT row: runs against the MQTT brokers and mb's MQTT listener
   * (`--mqtt-port`), all through the same raw MQTT load generator; the
   * others get "n/a".
   */
  mqtt?: boolean;
  /**
   * Publisher connections; each publishes `messages / publishers`. For HTTP
   * publish: keep-alive connections, each with one request (or `batch`
   * pipelined ones) in flight, taking the next request as soon as its
   * response is in.
   */
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
  /**
   * Most published messages any receiver may lag behind; for the store
   * rows, the most confirms (or queue sends) in flight, the stream reader's
   * credit, or the queue consumer's prefetch.
   */
  window: number;
  /**
   * Messages per pre-encoded write, per publisher; for the durable publish
   * rows, publishes started each time the window has room (1 where unused).
   */
  batch: number;
  /** One line for the README and the report. */
  description: string;
}

const BASE = {
  kind: "throughput",
  transport: "tcp",
  headline: "messages",
  unit: "msg/s",
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
    title: "confirmed publish (core, no stream)",
    mbOnly: true,
    confirm: true,
    messages: { full: 1_000_000, quick: 50_000 },
    warmup: { full: 100_000, quick: 5_000 },
    description: "mb only: 1 → 1, 64 B, every publish with a non-zero request id; the broker " +
      "answers each with Ok, and every Ok and every delivery is counted",
  },
  ...(["always", "interval", "never"] as const).map((fsync): Workload => ({
    ...BASE,
    id: `durable-${fsync}`,
    title: `durable confirmed publish, fsync ${fsync}`,
    kind: "stream-publish",
    mbOnly: true,
    confirm: true,
    store: fsync === "interval" ? { fsync, fsyncIntervalMs: 1_000 } : { fsync },
    messages: { full: 1_000_000, quick: 5_000 },
    warmup: { full: 100_000, quick: 500 },
    window: 1_000,
    batch: 100,
    description: `mb only, client library: \`publish(topic, 64 B, { confirm: true })\` into a ` +
      `stream that captures the topic, up to 1,000 confirms in flight; msg/s confirmed (each ` +
      `confirm carries the stored offset). Own broker with a fresh \`--data\` directory and ` +
      `\`--fsync ${fsync}\`${fsync === "interval" ? " (`--fsync-interval 1000`)" : ""}`,
  })),
  {
    ...BASE,
    id: "replay",
    title: "stream replay from first, 64 B",
    kind: "replay",
    mbOnly: true,
    store: { fsync: "never" },
    messages: { full: 1_000_000, quick: 5_000 },
    warmup: { full: 100_000, quick: 500 },
    window: 1_000,
    batch: 1,
    description: "mb only, client library: N messages of 64 B stored first (not timed; " +
      "`--fsync never`, own broker and data directory), then each round reads all N with " +
      '`subscribe(pattern, { stream, from: "first", callback })` (credit 1,000, the ' +
      "default); msg/s read, every offset checked in order",
  },
  {
    ...BASE,
    id: "queue-acks",
    title: "queue consume + ack, prefetch 256, 64 B",
    kind: "queue",
    unit: "jobs/s",
    mbOnly: true,
    store: { fsync: "always" },
    messages: { full: 300_000, quick: 5_000 },
    warmup: { full: 30_000, quick: 500 },
    window: 256,
    batch: 1,
    description: "mb only, client library: each round first sends N jobs of 64 B (not timed, " +
      "1,000 sends in flight), then one consumer with prefetch 256 takes them and acks each " +
      "without awaiting it; jobs/s counted by acks resolved. Own broker, fresh data " +
      "directory, `--fsync always` (the default)",
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
  {
    ...BASE,
    id: "ws-1to1-64b",
    title: "WebSocket 1 → 1, 64 B",
    transport: "ws",
    sameAs: "1to1-64b",
    mbOnly: true,
    messages: { full: 1_000_000, quick: 50_000 },
    warmup: { full: 100_000, quick: 5_000 },
    description: "mb only: the 1 → 1, 64 B row with publisher and subscriber on WebSockets " +
      "(subprotocol `mb.v1`) to the web listener instead of TCP: the same pre-encoded frames, " +
      "one binary message per batch, deliveries counted by walking the frames; same counts, " +
      "window and batch as the TCP row",
  },
  {
    ...BASE,
    id: "ws-fanout-8",
    title: "WebSocket fan-out 1 → 8, 64 B",
    transport: "ws",
    sameAs: "fanout-8",
    mbOnly: true,
    headline: "deliveries",
    subscribers: 8,
    messages: { full: 150_000, quick: 10_000 },
    warmup: { full: 20_000, quick: 1_000 },
    description: "mb only: the fan-out 1 → 8 row with the publisher and the eight subscribers " +
      "on WebSockets; same counts, window and batch as the TCP row; deliveries/s",
  },
  {
    ...BASE,
    id: "http-publish",
    title: "HTTP publish, 64 in flight, 64 B",
    kind: "http-publish",
    transport: "http",
    unit: "req/s",
    mbOnly: true,
    publishers: 64,
    batch: 1,
    messages: { full: 100_000, quick: 2_000 },
    warmup: { full: 10_000, quick: 500 },
    description: "mb only: `POST /v1/topics/bench/t` with a 64-byte body from 64 keep-alive " +
      "HTTP/1.1 connections, one request in flight on each (a raw-socket client, not " +
      "`fetch`), one TCP subscriber; requests/s. Every response must be 202 and every " +
      "message delivered",
  },
  {
    ...BASE,
    id: "mqtt-qos0",
    title: "MQTT 1 → 1, QoS 0, 64 B",
    transport: "mqtt",
    mqtt: true,
    messages: { full: 1_000_000, quick: 50_000 },
    warmup: { full: 100_000, quick: 5_000 },
    description: "MQTT brokers and mb's MQTT listener: the 1 → 1, 64 B row through the same " +
      "raw MQTT 3.1.1 load generator (clean session, QoS 0, pre-encoded PUBLISH packets); " +
      "targets: mb at least 3× Aedes and above Mosquitto",
  },
];

/**
 * Whether a workload runs against a broker (the others get "n/a"): mb-only
 * rows on mb, MQTT rows on mb and the MQTT brokers, the rest on every broker.
 *
 * @param workload The row.
 * @param broker The broker's id and protocol.
 * @returns `true` when it runs.
 */
export function workloadApplies(
  workload: Workload,
  broker: { id: string; protocol: string },
): boolean {
  if (workload.mqtt === true) return broker.id === "mb" || broker.protocol === "mqtt";
  return !workload.mbOnly || broker.id === "mb";
}

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
