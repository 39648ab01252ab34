// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { quote } from "../../protocol/_text.ts";
import {
  encodeStoredResult,
  nameProblem,
  type QueueConfig,
  type StreamConfig,
} from "../../protocol/durable.ts";
import { MbError } from "../../protocol/errors.ts";
import type { AckAction, StreamStart } from "../../protocol/frames.ts";
import { patternProblem } from "../../protocol/topic.ts";
import { TopicTrie } from "../topic_trie.ts";
import type { StoredCallback } from "./_append_batcher.ts";
import { normalizeQueueConfig, normalizeStreamConfig, sameConfig } from "./_configs.ts";
import { storageError } from "./_errors.ts";
import type { DurableLog } from "./durable_log.ts";
import { MemoryLog } from "./memory_log.ts";
import { Queue, type QueueConsumer } from "./queue.ts";
import { SegmentLog, type SegmentLogFsync } from "./segment_log.ts";
import type { DurableSink } from "./sink.ts";
import { Stream, type StreamReader } from "./stream.ts";

const logger = getLogger(["mb", "store"]);

/** Options for {@linkcode DurableStore.open}. */
export interface DurableStoreOptions {
  /**
   * Directory of the segment files; without it, streams and queues live in
   * memory and are lost when the broker stops.
   *
   * @default {undefined}
   */
  dir?: string;
  /**
   * When appends reach the disk: `"always"` (a confirmation means the
   * message is on disk), `"interval"` or `"never"`.
   *
   * @default {"always"}
   */
  fsync?: SegmentLogFsync;
  /**
   * Period of the sync under `fsync: "interval"`.
   *
   * @default {1000}
   */
  fsyncIntervalMs?: number;
  /**
   * Most bytes one stream's or queue's log may take on disk; a write past it
   * fails with `STORAGE_FULL`.
   *
   * @default {Infinity}
   */
  maxDiskBytes?: number;
  /**
   * Streams created at open if missing (their configuration is updated
   * otherwise).
   *
   * @default {[]}
   */
  streams?: StreamConfig[];
  /**
   * Queues declared at open if missing.
   *
   * @default {[]}
   */
  queues?: QueueConfig[];
  /**
   * The clock, in milliseconds since the epoch.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** One target a published topic is captured into. */
type Capture = { stream: Stream; queue?: undefined } | { queue: Queue; stream?: undefined };

/** How many topics' capture matches are cached before the cache starts over. */
const MAX_CACHED_TOPICS = 10_000;
/** Store-wide bytes waiting to be written beyond which publishers are paused. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;
const RETENTION_INTERVAL_MS = 1000;

/**
 * The registry of streams and queues: opens them from the data directory
 * (or memory), captures published topics into them, serves the Command
 * operations, and hands readers and consumers to sessions.
 *
 * Layout under `dir`: `streams/<name>/config.json` and `streams/<name>/log/`
 * (segment files); `queues/<name>/config.json`, `queues/<name>/messages/`
 * and `queues/<name>/state/`.
 *
 * @example Capture a topic into a stream in memory
 * ```ts
 * import { DurableStore } from "./durable_store.ts";
 * import { encodeMessageSection } from "../../protocol/encode.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = await DurableStore.open({
 *   streams: [{ name: "orders", topics: ["orders/#"] }],
 * });
 * const message = encodeMessageSection("orders/1", "", undefined, new Uint8Array([1]));
 * assert.ok(store.capture("orders/1", message));
 * await store.whenStored();
 * const info = await store.command("stream.info", { name: "orders" }) as { messages: number };
 * assert.equal(info.messages, 1);
 * ```
 */
export class DurableStore implements AsyncDisposable {
  #options: DurableStoreOptions;
  #streams = new Map<string, Stream>();
  #queues = new Map<string, Queue>();
  #trie = new TopicTrie<Capture>();
  #captures = 0;
  #cache = new Map<string, Capture[]>();
  /** What each stream and queue is bound to in the trie. */
  #bound = new Map<Stream | Queue, { patterns: readonly string[]; capture: Capture }>();
  #scratch: Capture[] = [];
  #retentionTimer: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
  /** Serializes create and delete, which touch files. */
  #admin: Promise<unknown> = Promise.resolve();

  private constructor(options: DurableStoreOptions) {
    this.#options = options;
  }

  /**
   * Opens the store: every stream and queue found under `dir`, then those in
   * the options.
   *
   * @param options Where and how to store.
   * @returns The open store.
   * @throws {MbError} `STORAGE_FAILED` when the directory cannot be used;
   * `INVALID_ARGUMENT` for a bad stream or queue in the options.
   */
  static async open(options: DurableStoreOptions = {}): Promise<DurableStore> {
    const store = new DurableStore(options);
    try {
      await store.#load();
      for (const config of options.streams ?? []) await store.createStream(config, true);
      for (const config of options.queues ?? []) await store.declareQueue(config);
    } catch (error) {
      await store.close();
      throw error;
    }
    store.#retentionTimer = setInterval(() => store.#enforceRetention(), RETENTION_INTERVAL_MS);
    return store;
  }

  /** `"disk"` with a data directory, `"memory"` without. */
  get kind(): "disk" | "memory" {
    return this.#options.dir === undefined ? "memory" : "disk";
  }

  /** Bytes of captured messages waiting to be written, over all logs. */
  get pendingBytes(): number {
    let bytes = 0;
    for (const stream of this.#streams.values()) bytes += stream.pendingBytes;
    for (const queue of this.#queues.values()) bytes += queue.pendingBytes;
    return bytes;
  }

  /** Whether publishers should pause until {@linkcode whenStored}. */
  get backlogged(): boolean {
    return this.#captures > 0 && this.pendingBytes > MAX_PENDING_BYTES;
  }

  /** Resolves when every message captured so far is written (or failed). */
  async whenStored(): Promise<void> {
    await Promise.all([
      ...[...this.#streams.values()].map((stream) => stream.whenStored()),
      ...[...this.#queues.values()].map((queue) => queue.whenStored()),
    ]);
  }

  /**
   * Stores a published message in every stream and queue whose patterns
   * match its topic. Synchronous: the message is copied and written with the
   * rest of this tick's messages.
   *
   * @param topic The message's topic, already validated.
   * @param message The message section.
   * @param onStored Called once every capture is stored: with the result of
   * a confirmed publish (the first stream's offset, or empty when only
   * queues took it), or with the first error.
   * @returns `false` when nothing captures the topic (`onStored` is then
   * never called).
   */
  capture(
    topic: string,
    message: Uint8Array,
    onStored?: (error: MbError | undefined, result: Uint8Array) => void,
  ): boolean {
    if (this.#captures === 0) return false;
    const targets = this.#match(topic);
    if (targets.length === 0) return false;
    if (onStored === undefined) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[i];
        if (target.stream !== undefined) target.stream.capture(message);
        else target.queue.enqueue(message);
      }
      return true;
    }
    let waiting = targets.length;
    let failure: MbError | undefined;
    let result: Uint8Array = EMPTY;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      const stream = target.stream;
      const done: StoredCallback = (error, offset) => {
        if (error !== undefined) failure ??= error;
        else if (stream !== undefined && result === EMPTY) {
          result = encodeStoredResult(offset, stream.name);
        }
        if (--waiting === 0) onStored(failure, failure === undefined ? result : EMPTY);
      };
      if (stream !== undefined) stream.capture(message, done);
      else target.queue.enqueue(message, done);
    }
    return true;
  }

  /**
   * Runs an administrative operation of a Command frame (see
   * `protocol/durable.ts` for the list).
   *
   * @param op The operation.
   * @param args Its JSON arguments.
   * @returns Its JSON result.
   * @throws {MbError} `INVALID_ARGUMENT` for an unknown op or bad arguments;
   * `STREAM_UNKNOWN`, `QUEUE_UNKNOWN`, `ALREADY_EXISTS`, or a storage code.
   */
  async command(op: string, args: unknown): Promise<unknown> {
    const fields = (typeof args === "object" && args !== null ? args : {}) as Record<
      string,
      unknown
    >;
    switch (op) {
      case "stream.create":
        return (await this.createStream(args as StreamConfig, false)).info();
      case "stream.info":
        return this.#stream(fields.name).info();
      case "stream.list":
        return [...this.#streams.values()].map((stream) => stream.info());
      case "stream.delete":
        await this.#deleteStream(fields.name);
        return { deleted: true };
      case "stream.purge":
        // Behind creates and deletes: the name is looked up when it runs.
        return { purged: await this.#serialize(() => this.#stream(fields.name).purge()) };
      case "queue.declare":
        return (await this.declareQueue(args as QueueConfig)).info();
      case "queue.info":
        return this.#queue(fields.name).info();
      case "queue.list":
        return [...this.#queues.values()].map((queue) => queue.info());
      case "queue.delete":
        await this.#deleteQueue(fields.name);
        return { deleted: true };
      case "queue.purge":
        return { purged: await this.#serialize(() => this.#queue(fields.name).purge()) };
      default:
        throw new MbError("INVALID_ARGUMENT", `Unknown command ${quote(String(op))}`);
    }
  }

  /**
   * Creates a stream, or returns the existing one when its configuration is
   * the same.
   *
   * @param config The stream.
   * @param update Replace a different configuration instead of refusing it.
   * @returns The stream.
   * @throws {MbError} `ALREADY_EXISTS` when a stream of that name has another
   * configuration (and `update` is false); `INVALID_ARGUMENT`.
   */
  createStream(config: StreamConfig, update: boolean): Promise<Stream> {
    return this.#serialize(async () => {
      const normal = normalizeStreamConfig(config);
      const existing = this.#streams.get(normal.name);
      if (existing !== undefined) {
        if (sameConfig(existing.config, normal)) return existing;
        if (!update) {
          throw new MbError(
            "ALREADY_EXISTS",
            `Cannot create stream ${quote(normal.name)}: it exists with another configuration`,
          );
        }
        await this.#closeStream(existing);
      }
      await this.#writeConfig("streams", normal.name, normal);
      const stream = await this.#openStream(normal);
      logger.info("Stream {name} captures {topics}", {
        name: normal.name,
        topics: normal.topics.join(", "),
      });
      return stream;
    });
  }

  /**
   * Declares a queue: creates it, or updates the settings the declaration
   * gives when it exists (its messages stay; settings left out are kept).
   * Settings change only while the queue has no consumer and nothing in
   * flight.
   *
   * @param config The queue.
   * @returns The queue.
   * @throws {MbError} `INVALID_ARGUMENT`; `ALREADY_EXISTS` for new settings
   * while the queue has consumers.
   */
  declareQueue(config: QueueConfig): Promise<Queue> {
    return this.#serialize(async () => {
      let normal = normalizeQueueConfig(config);
      const existing = this.#queues.get(normal.name);
      if (existing !== undefined) {
        // Fields the declaration leaves out keep their current values.
        const given = Object.fromEntries(
          Object.entries(config).filter(([, value]) => value !== undefined),
        );
        normal = normalizeQueueConfig({ ...existing.config, ...given } as QueueConfig);
        if (sameConfig(existing.config, normal)) return existing;
        const { consumers, inFlight } = existing.info();
        if (consumers > 0 || inFlight > 0) {
          throw new MbError(
            "ALREADY_EXISTS",
            `Cannot change the settings of queue ${
              quote(normal.name)
            }: it has ${consumers} consumers and ${inFlight} messages in flight`,
          );
        }
        await this.#closeQueue(existing);
      }
      await this.#writeConfig("queues", normal.name, normal);
      return await this.#openQueue(normal);
    });
  }

  /**
   * Attaches a stream reader for a session.
   *
   * @param sink The session.
   * @param sid The reader's id.
   * @param name The stream.
   * @param pattern Topic filter, `""` for all.
   * @param start Where to start.
   * @param credit Messages it may receive before granting more.
   * @returns The reader.
   * @throws {MbError} `STREAM_UNKNOWN`, `TOPIC_INVALID`, `OFFSET_OUT_OF_RANGE`, `INVALID_ARGUMENT`.
   */
  subscribe(
    sink: DurableSink,
    sid: number,
    name: string,
    pattern: string,
    start: StreamStart,
    credit: number,
  ): StreamReader {
    const stream = this.#stream(name);
    if (pattern !== "") {
      const problem = patternProblem(pattern);
      if (problem !== undefined) {
        throw new MbError("TOPIC_INVALID", `Cannot read ${quote(pattern)}: ${problem}`);
      }
    }
    return stream.subscribe(sink, sid, pattern, start, credit);
  }

  /**
   * Attaches a push consumer to a queue.
   *
   * @param sink The session.
   * @param sid The consumer's id.
   * @param name The queue.
   * @param prefetch Most unacknowledged messages it holds.
   * @returns The consumer.
   * @throws {MbError} `QUEUE_UNKNOWN`, `INVALID_ARGUMENT`.
   */
  consume(sink: DurableSink, sid: number, name: string, prefetch: number): QueueConsumer {
    return this.#queue(name).consume(sink, sid, prefetch);
  }

  /**
   * Pulls up to `max` messages from a queue (long poll).
   *
   * @param sink The session.
   * @param sid The sid the deliveries carry.
   * @param name The queue.
   * @param max Most messages.
   * @param waitMs How long to wait for the first one.
   * @returns How many were delivered.
   * @throws {MbError} `QUEUE_UNKNOWN`, `INVALID_ARGUMENT`.
   */
  fetch(
    sink: DurableSink,
    sid: number,
    name: string,
    max: number,
    waitMs: number,
  ): Promise<number> {
    return this.#queue(name).fetch(sink, sid, max, waitMs);
  }

  /**
   * Acks or nacks a queue message held by a session.
   *
   * @param sink The session.
   * @param name The queue.
   * @param messageId The message.
   * @param action Ack or nack.
   * @param delayMs For a nack, the wait before redelivery.
   * @returns A promise that resolves once the settlement is stored.
   * @throws {MbError} `QUEUE_UNKNOWN`, `MESSAGE_UNKNOWN`, a storage code.
   */
  settle(
    sink: DurableSink,
    name: string,
    messageId: number,
    action: AckAction,
    delayMs: number,
  ): Promise<void> {
    return this.#queue(name).settle(sink, messageId, action, delayMs);
  }

  /**
   * Puts a message on a queue directly.
   *
   * @param name The queue.
   * @param message The message section.
   * @param onStored Told the message id once stored, or the error.
   * @throws {MbError} `QUEUE_UNKNOWN`.
   */
  send(name: string, message: Uint8Array, onStored?: StoredCallback): void {
    this.#queue(name).enqueue(message, onStored);
  }

  /**
   * A session is gone: its queue messages in flight go back for redelivery.
   * (Stream readers are closed by the session itself.)
   *
   * @param sink The session.
   */
  detach(sink: DurableSink): void {
    for (const queue of this.#queues.values()) queue.detach(sink);
  }

  /**
   * Writes what is pending and closes every log.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#retentionTimer);
      await this.#admin.catch(() => {});
      const closing = [
        ...[...this.#streams.values()].map((stream) => stream.close()),
        ...[...this.#queues.values()].map((queue) => queue.close()),
      ];
      const results = await Promise.allSettled(closing);
      for (const result of results) {
        if (result.status === "rejected") {
          logger.error("Closing the store failed: {error}", { error: result.reason });
        }
      }
    })();
    return this.#closing;
  }

  /** Same as {@linkcode DurableStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #stream(name: unknown): Stream {
    const stream = typeof name === "string" ? this.#streams.get(name) : undefined;
    if (stream === undefined) {
      throw new MbError("STREAM_UNKNOWN", `Unknown stream ${quote(String(name))}`);
    }
    return stream;
  }

  #queue(name: unknown): Queue {
    const queue = typeof name === "string" ? this.#queues.get(name) : undefined;
    if (queue === undefined) {
      throw new MbError("QUEUE_UNKNOWN", `Unknown queue ${quote(String(name))}`);
    }
    return queue;
  }

  #match(topic: string): Capture[] {
    const cached = this.#cache.get(topic);
    if (cached !== undefined) return cached;
    const out = this.#scratch;
    out.length = 0;
    this.#trie.match(topic, out);
    const targets = out.length === 0 ? NONE : [...new Set(out)];
    if (this.#cache.size >= MAX_CACHED_TOPICS) this.#cache.clear();
    this.#cache.set(topic, targets);
    return targets;
  }

  #bind(target: Stream | Queue, patterns: readonly string[], capture: Capture): void {
    for (const pattern of patterns) {
      this.#trie.add(pattern, capture);
      this.#captures++;
    }
    this.#bound.set(target, { patterns, capture });
    this.#cache.clear();
  }

  #unbind(target: Stream | Queue): void {
    const bound = this.#bound.get(target);
    if (bound === undefined) return;
    this.#bound.delete(target);
    for (const pattern of bound.patterns) {
      if (this.#trie.remove(pattern, bound.capture)) this.#captures--;
    }
    this.#cache.clear();
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) {
      return Promise.reject(new MbError("STORAGE_FAILED", "Cannot change the store: it is closed"));
    }
    const run = this.#admin.then(task, task);
    this.#admin = run.catch(() => {});
    return run;
  }

  async #load(): Promise<void> {
    const dir = this.#options.dir;
    if (dir === undefined) return;
    await storage(
      "create the data directory",
      () => Deno.mkdir(`${dir}/streams`, { recursive: true }),
    );
    await storage(
      "create the data directory",
      () => Deno.mkdir(`${dir}/queues`, { recursive: true }),
    );
    for (const config of await this.#readConfigs<StreamConfig>("streams")) {
      await this.#openStream(normalizeStreamConfig(config));
    }
    // Dead-letter queues are looked up by name when used, so order does not matter.
    for (const config of await this.#readConfigs<QueueConfig>("queues")) {
      await this.#openQueue(normalizeQueueConfig(config));
    }
  }

  async #readConfigs<T>(kind: "streams" | "queues"): Promise<T[]> {
    const dir = `${this.#options.dir}/${kind}`;
    const configs: T[] = [];
    const names: string[] = [];
    await storage(`list ${dir}`, async () => {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory && nameProblem(entry.name) === undefined) names.push(entry.name);
      }
    });
    names.sort();
    for (const name of names) {
      const path = `${dir}/${name}/config.json`;
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue; // a create or delete cut short
        throw storageError(`Cannot read ${path}`, error);
      }
      try {
        configs.push(JSON.parse(text) as T);
      } catch (error) {
        throw new MbError("STORAGE_FAILED", `Cannot read ${path}: ${error}`);
      }
    }
    return configs;
  }

  async #writeConfig(
    kind: "streams" | "queues",
    name: string,
    config: StreamConfig | QueueConfig,
  ): Promise<void> {
    const dir = this.#options.dir;
    if (dir === undefined) return;
    const path = `${dir}/${kind}/${name}`;
    await storage(`write ${path}/config.json`, async () => {
      await Deno.mkdir(path, { recursive: true });
      await Deno.writeTextFile(`${path}/config.json.tmp`, JSON.stringify(config, null, 2) + "\n");
      await Deno.rename(`${path}/config.json.tmp`, `${path}/config.json`);
    });
  }

  async #openLog(
    path: string,
    limits: { segmentBytes?: number; maxAgeMs?: number },
  ): Promise<DurableLog> {
    const options = this.#options;
    if (options.dir === undefined) return new MemoryLog({ now: options.now });
    return await SegmentLog.open(`${options.dir}/${path}`, {
      fsync: options.fsync ?? "always",
      fsyncIntervalMs: options.fsyncIntervalMs,
      maxBytesOnDisk: options.maxDiskBytes,
      segmentBytes: limits.segmentBytes,
      segmentMaxAgeMs: limits.maxAgeMs,
      now: options.now,
      onRecover: (info) => logger.warn("Recovered {path}: {info}", { path, info }),
    });
  }

  async #openStream(config: StreamConfig): Promise<Stream> {
    const log = await this.#openLog(`streams/${config.name}/log`, {
      segmentBytes: config.maxBytes ? segmentBytesFor(config.maxBytes) : undefined,
      maxAgeMs: config.maxAgeMs ? Math.max(1000, Math.floor(config.maxAgeMs / 4)) : undefined,
    });
    const stream = new Stream(config, log, { now: this.#options.now });
    this.#streams.set(config.name, stream);
    this.#bind(stream, config.topics, { stream });
    return stream;
  }

  async #openQueue(config: QueueConfig): Promise<Queue> {
    const messages = await this.#openLog(`queues/${config.name}/messages`, {
      segmentBytes: 8 * 1024 * 1024,
    });
    let state: DurableLog;
    try {
      state = await this.#openLog(`queues/${config.name}/state`, { segmentBytes: 1024 * 1024 });
    } catch (error) {
      await messages.close();
      throw error;
    }
    const queue = await Queue.open(config, messages, state, {
      now: this.#options.now,
      resolveQueue: (name) => this.#queues.get(name),
    });
    this.#queues.set(config.name, queue);
    this.#bind(queue, config.topics ?? [], { queue });
    return queue;
  }

  async #closeStream(stream: Stream): Promise<void> {
    this.#unbind(stream);
    if (this.#streams.get(stream.name) === stream) this.#streams.delete(stream.name);
    await stream.close();
  }

  async #closeQueue(queue: Queue): Promise<void> {
    this.#unbind(queue);
    if (this.#queues.get(queue.name) === queue) this.#queues.delete(queue.name);
    await queue.close();
  }

  #deleteStream(name: unknown): Promise<void> {
    return this.#serialize(async () => {
      const stream = this.#stream(name);
      await this.#closeStream(stream);
      await this.#removeDir("streams", stream.name);
      logger.info("Stream {name} deleted", { name: stream.name });
    });
  }

  #deleteQueue(name: unknown): Promise<void> {
    return this.#serialize(async () => {
      const queue = this.#queue(name);
      await this.#closeQueue(queue);
      await this.#removeDir("queues", queue.name);
      logger.info("Queue {name} deleted", { name: queue.name });
    });
  }

  async #removeDir(kind: "streams" | "queues", name: string): Promise<void> {
    const dir = this.#options.dir;
    if (dir === undefined) return;
    const path = `${dir}/${kind}/${name}`;
    // The config goes first: a crash in between leaves files without a
    // config, which the next open skips.
    await storage(`delete ${path}`, async () => {
      await Deno.remove(`${path}/config.json`).catch(() => {});
      await Deno.remove(path, { recursive: true });
    });
  }

  #enforcing = false;

  async #enforceRetention(): Promise<void> {
    if (this.#enforcing) return;
    this.#enforcing = true;
    try {
      for (const stream of this.#streams.values()) {
        try {
          await stream.enforceRetention();
        } catch (error) {
          logger.error("Retention of stream {name} failed: {error}", { name: stream.name, error });
        }
      }
    } finally {
      this.#enforcing = false;
    }
  }
}

const EMPTY = new Uint8Array(0);
const NONE: Capture[] = [];

/** Segments of about an eighth of a stream's byte limit, between 64 KiB and 64 MiB. */
function segmentBytesFor(maxBytes: number): number {
  return Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 8)));
}

async function storage<T>(action: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw storageError(`Cannot ${action}`, error);
  }
}
