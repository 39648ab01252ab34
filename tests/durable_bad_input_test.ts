// Copyright mb authors. MIT license.
// Bad input to streams and queues: each case gets its coded error, the
// connection that made it keeps working, and the broker keeps serving. Raw
// frames only where the client cannot produce the input (an ack for a
// message id it never received; names the client may refuse before sending).

import assert from "node:assert/strict";
import { type Client, connect } from "../mod.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
} from "../protocol/mod.ts";
import {
  deadline,
  eventually,
  ROOT,
  startBroker,
  take,
  tempDataDir,
  uniqueName,
  uniqueTopic,
} from "./_helpers.ts";

/** A broker on a fresh data directory and one client. */
interface Env extends AsyncDisposable {
  broker: Awaited<ReturnType<typeof startBroker>>;
  mb: Client;
  dir: string;
}

async function open(options: { maxDiskBytes?: number; dir?: string } = {}): Promise<Env> {
  const dir = options.dir ?? await tempDataDir();
  const broker = await startBroker({ dataDir: dir, maxDiskBytes: options.maxDiskBytes });
  const mb = await connect(broker.url);
  return {
    broker,
    mb,
    dir,
    async [Symbol.asyncDispose]() {
      await mb.close();
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A publish/subscribe round trip on `mb`: the connection still works. */
async function assertRoundTrip(mb: Client, after: string): Promise<void> {
  const topic = uniqueTopic("alive");
  const sub = mb.subscribe(topic, { max: 1 });
  await mb.flush();
  await mb.publish(topic, after);
  const texts = await deadline(
    (async () => {
      const got: string[] = [];
      for await (const msg of sub) got.push(msg.text());
      return got;
    })(),
    5000,
    `a round trip on the same connection after ${after}`,
  );
  assert.deepEqual(texts, [after]);
}

/** Iterates to the end; resolves when it ends, rejects with its error. */
async function drain(iterable: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of iterable) count++;
  return count;
}

/** A raw connection that speaks frames by hand. */
class RawClient implements AsyncDisposable {
  conn: Deno.Conn;
  reader: ReadableStreamDefaultReader<Frame>;
  writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.writer = conn.writable.getWriter();
    this.reader = conn.readable.pipeThrough(new FrameDecoder({ maxFrameBytes: 1 << 24 }))
      .getReader();
  }

  static async open(url: string): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const client = new RawClient(await Deno.connect({ hostname, port: Number(port) }));
    await client.send({ type: FrameType.Hello, version: PROTOCOL_VERSION, hello: {} });
    const info = await client.next();
    assert.equal(info?.type, FrameType.Info);
    return client;
  }

  send(frame: Frame): Promise<void> {
    return this.writer.write(encodeFrame(frame));
  }

  async next(): Promise<Frame | undefined> {
    const result = await deadline(this.reader.read(), 5000, "next frame from the broker");
    return result.done ? undefined : result.value;
  }

  /** Asserts that the next frame is an error with `code` for `requestId`. */
  async expectError(requestId: number, code: string): Promise<void> {
    const frame = await this.next();
    assert.ok(
      frame?.type === FrameType.Error,
      `expected an error frame, got ${JSON.stringify(frame)}`,
    );
    assert.deepEqual([frame.requestId, frame.code], [requestId, code], frame.message);
  }

  /** A ping answered with a pong: the connection is still open. */
  async expectAlive(): Promise<void> {
    await this.send({ type: FrameType.Ping });
    assert.equal((await this.next())?.type, FrameType.Pong);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch { /* closed */ }
    await this.reader.cancel().catch(() => {});
  }
}

Deno.test("Durable: an unknown stream is STREAM_UNKNOWN for info, purge, delete and subscribe", async () => {
  await using env = await open();
  const { mb } = env;
  const name = uniqueName("missing");
  await assert.rejects(mb.streams.info(name), { code: "STREAM_UNKNOWN" });
  await assertRoundTrip(mb, "stream info");
  await assert.rejects(mb.streams.purge(name), { code: "STREAM_UNKNOWN" });
  await assert.rejects(mb.streams.delete(name), { code: "STREAM_UNKNOWN" });
  await assert.rejects(
    deadline(drain(mb.subscribe("a/#", { stream: name, from: "first" })), 5000, "subscribe"),
    { code: "STREAM_UNKNOWN" },
  );
  await assertRoundTrip(mb, "stream subscribe");
});

Deno.test("Durable: an unknown queue is QUEUE_UNKNOWN for send, consume, fetch, info, purge and delete", async () => {
  await using env = await open();
  const { mb } = env;
  const name = uniqueName("missing");
  await assert.rejects(mb.queues.send(name, "x"), { code: "QUEUE_UNKNOWN" });
  await assertRoundTrip(mb, "send");
  await assert.rejects(
    deadline(drain(mb.queues.consume(name, { prefetch: 1 })), 5000, "consume"),
    { code: "QUEUE_UNKNOWN" },
  );
  await assertRoundTrip(mb, "consume");
  await assert.rejects(mb.queues.fetch(name, { max: 1, waitMs: 100 }), { code: "QUEUE_UNKNOWN" });
  await assertRoundTrip(mb, "fetch");
  await assert.rejects(mb.queues.info(name), { code: "QUEUE_UNKNOWN" });
  await assert.rejects(mb.queues.purge(name), { code: "QUEUE_UNKNOWN" });
  await assert.rejects(mb.queues.delete(name), { code: "QUEUE_UNKNOWN" });
  await assertRoundTrip(mb, "queue info, purge and delete");
});

Deno.test("Durable: a double ack and an ack of an unknown id are MESSAGE_UNKNOWN", async () => {
  await using env = await open();
  const { broker, mb } = env;
  const queue = uniqueName("acks");
  await mb.queues.declare(queue);
  const id = await mb.queues.send(queue, "once");
  const [job] = await mb.queues.fetch(queue, { max: 1, waitMs: 1000 });
  assert.equal(job?.id, id);
  await job.ack();
  await assert.rejects(job.ack(), { code: "MESSAGE_UNKNOWN" });
  await assert.rejects(job.nack({ delayMs: 0 }), { code: "MESSAGE_UNKNOWN" });
  await assertRoundTrip(mb, "a double ack");

  // The client only acks what it received, so an id it never saw goes raw.
  await using raw = await RawClient.open(broker.url);
  for (const [requestId, messageId] of [[1, 2 ** 40], [2, id + 1000]]) {
    await raw.send({
      type: FrameType.Ack,
      requestId,
      queue,
      messageId,
      action: 0,
      delayMs: 0,
    });
    await raw.expectError(requestId, "MESSAGE_UNKNOWN");
    await raw.expectAlive();
  }
  // The message another connection acked is unknown here too.
  await raw.send({
    type: FrameType.Ack,
    requestId: 3,
    queue,
    messageId: id,
    action: 0,
    delayMs: 0,
  });
  await raw.expectError(3, "MESSAGE_UNKNOWN");
  await raw.expectAlive();
  assert.equal((await mb.queues.info(queue)).messages, 0);
});

Deno.test("Durable: a negative start offset is INVALID_ARGUMENT, one past nextOffset OFFSET_OUT_OF_RANGE", async () => {
  await using env = await open();
  const { mb } = env;
  const base = uniqueTopic("offsets");
  const topic = `${base}/t`;
  const name = uniqueName("offsets");
  await mb.streams.create({ name, topics: [`${base}/#`] });
  for (let i = 0; i < 3; i++) assert.equal(await mb.publish(topic, `m${i}`, { confirm: true }), i);

  // Refused by the client: the wire has no negative offsets.
  await assert.rejects(
    async () => await deadline(drain(mb.subscribe(topic, { stream: name, from: -1 })), 5000, "-1"),
    { code: "INVALID_ARGUMENT" },
  );
  await assertRoundTrip(mb, "offset -1");
  for (const from of [2 ** 40, 4]) {
    await assert.rejects(
      deadline(drain(mb.subscribe(topic, { stream: name, from })), 5000, `offset ${from}`),
      { code: "OFFSET_OUT_OF_RANGE" },
      `offset ${from} with nextOffset 3`,
    );
    await assertRoundTrip(mb, `offset ${from}`);
  }
  // nextOffset itself is in range: the reader gets the next message.
  const iterator = mb.subscribe(topic, { stream: name, from: 3 })[Symbol.asyncIterator]();
  await mb.flush();
  assert.equal(await mb.publish(topic, "m3", { confirm: true }), 3);
  const [next] = await take(iterator, 1, 5000, "the message at nextOffset");
  assert.deepEqual([next.offset, next.text()], [3, "m3"]);
});

Deno.test("Durable: stream and queue names like ../x or empty are INVALID_ARGUMENT and touch no file", async () => {
  const parent = await tempDataDir();
  const dir = `${parent}/data`;
  try {
    await using env = await open({ dir });
    await checkNames(env, parent);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

async function checkNames(env: Env, parent: string): Promise<void> {
  const { broker, mb, dir } = env;
  for (const name of ["../x", "", "x/../../y", ".hidden"]) {
    await assert.rejects(
      mb.streams.create({ name, topics: ["a/#"] }),
      { code: "INVALID_ARGUMENT" },
      `stream name ${JSON.stringify(name)}`,
    );
    await assert.rejects(
      mb.queues.declare(name),
      { code: "INVALID_ARGUMENT" },
      `queue name ${JSON.stringify(name)}`,
    );
    await assertRoundTrip(mb, `name ${JSON.stringify(name)}`);
  }
  // The broker checks too, whatever a client lets through.
  await using raw = await RawClient.open(broker.url);
  let requestId = 0;
  for (const name of ["../x", ""]) {
    for (
      const [op, args] of [
        ["stream.create", { name, topics: ["a/#"] }],
        ["queue.declare", { name }],
      ] as const
    ) {
      await raw.send({ type: FrameType.Command, requestId: ++requestId, op, args });
      await raw.expectError(requestId, "INVALID_ARGUMENT");
    }
  }
  await raw.expectAlive();
  const entries = async (path: string) =>
    (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
  assert.deepEqual(await entries(parent), ["data"], "nothing created beside the data directory");
  assert.deepEqual(await entries(`${dir}/streams`), []);
  assert.deepEqual(await entries(`${dir}/queues`), []);
}

Deno.test("Durable: over a 64 KiB quota writes fail with STORAGE_FULL; what was accepted stays readable; pub/sub goes on", async () => {
  const QUOTA = 64 * 1024;
  await using env = await open({ maxDiskBytes: QUOTA });
  const { broker, mb } = env;
  const base = uniqueTopic("quota");
  const topic = `${base}/t`;
  const name = uniqueName("quota");
  const queue = uniqueName("quota");
  await mb.streams.create({ name, topics: [`${base}/#`] });
  await mb.queues.declare(queue);
  const payload = (i: number) => `${i}:`.padEnd(1024, ".");

  // Stream: publish 1 KiB messages until the quota refuses one.
  const offsets: number[] = [];
  let refused: unknown;
  for (let i = 0; i < 1000 && refused === undefined; i++) {
    try {
      const offset = await mb.publish(topic, payload(i), { confirm: true });
      assert.equal(offset, i);
      offsets.push(i);
    } catch (error) {
      refused = error;
    }
  }
  assert.equal((refused as { code?: string })?.code, "STORAGE_FULL", `refused with ${refused}`);
  assert.ok(offsets.length > 0 && offsets.length < 64, `${offsets.length} KiB fit a 64 KiB quota`);
  await assert.rejects(mb.publish(topic, payload(1000), { confirm: true }), {
    code: "STORAGE_FULL",
  });
  await assertRoundTrip(mb, "STORAGE_FULL on a publish");
  const read = await take(
    mb.subscribe(topic, { stream: name, from: "first" })[Symbol.asyncIterator](),
    offsets.length,
    5000,
    "the accepted stream messages",
  );
  assert.deepEqual(read.map((m) => [m.offset, m.text()]), offsets.map((i) => [i, payload(i)]));

  // Queue: send until refused, then every accepted job is delivered and acked.
  const ids = new Map<number, string>();
  refused = undefined;
  for (let i = 0; i < 1000 && refused === undefined; i++) {
    try {
      ids.set(await mb.queues.send(queue, payload(i)), payload(i));
    } catch (error) {
      refused = error;
    }
  }
  assert.equal((refused as { code?: string })?.code, "STORAGE_FULL", `refused with ${refused}`);
  assert.ok(ids.size > 0 && ids.size < 64, `${ids.size} KiB fit a 64 KiB quota`);
  await assertRoundTrip(mb, "STORAGE_FULL on a send");
  const delivered = new Map<number, string>();
  while (delivered.size < ids.size) {
    const batch = await mb.queues.fetch(queue, { max: 100, waitMs: 1000 });
    assert.ok(batch.length > 0, `${delivered.size} of ${ids.size} accepted jobs delivered`);
    for (const job of batch) delivered.set(job.id, job.text());
    await Promise.all(batch.map((job) => job.ack()));
  }
  assert.deepEqual([...delivered].sort(([a], [b]) => a - b), [...ids].sort(([a], [b]) => a - b));

  // Core pub/sub is untouched, on this connection and on a new one.
  await assertRoundTrip(mb, "a full store");
  await using other = await connect(broker.url);
  await assertRoundTrip(other, "a full store, on a new connection");
});

Deno.test("mb-server exits non-zero naming the path when --data is a regular file", async () => {
  const dir = await tempDataDir();
  const file = `${dir}/not-a-directory`;
  await Deno.writeTextFile(file, "plain file\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}server/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data",
      file,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const { code, stderr } = await deadline(output, 15_000, "mb-server exiting on a bad --data");
    const text = new TextDecoder().decode(stderr);
    assert.notEqual(code, 0, `exit code; stderr: ${text}`);
    assert.ok(text.includes(file), `stderr names ${file}: ${text}`);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await output.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Durable: zero credit, an unknown command and a zero prefetch are INVALID_ARGUMENT, not fatal", async () => {
  await using env = await open();
  const { broker, mb } = env;
  const name = uniqueName("credit");
  await mb.streams.create({ name, topics: [`${uniqueTopic("credit")}/#`] });
  await mb.queues.declare(name);
  await using raw = await RawClient.open(broker.url);
  await raw.send({
    type: FrameType.StreamSubscribe,
    requestId: 1,
    sid: 7,
    stream: name,
    pattern: "",
    start: { kind: "first" },
    credit: 10,
  });
  assert.equal((await raw.next())?.type, FrameType.Ok);
  await raw.send({ type: FrameType.Credit, sid: 7, credit: 0 });
  await raw.expectError(0, "INVALID_ARGUMENT");
  await raw.send({ type: FrameType.Command, requestId: 2, op: "stream.explode", args: {} });
  await raw.expectError(2, "INVALID_ARGUMENT");
  await raw.send({ type: FrameType.QueueConsume, requestId: 3, sid: 8, queue: name, prefetch: 0 });
  await raw.expectError(3, "INVALID_ARGUMENT");
  await raw.expectAlive();
});

Deno.test("Durable: a queue consumer with a huge prefetch that stops reading holds the broker to maxPendingBytes", async () => {
  const dir = await tempDataDir();
  const maxPendingBytes = 1024 * 1024;
  const broker = await startBroker({ dataDir: dir, fsync: "never", maxPendingBytes });
  const mb = await connect(broker.url);
  try {
    const queue = uniqueName("hoard");
    await mb.queues.declare(queue);
    // A raw consumer that asks for everything, then never reads its socket.
    await using raw = await RawClient.open(broker.url);
    await raw.send({
      type: FrameType.QueueConsume,
      requestId: 1,
      sid: 1,
      queue,
      prefetch: 0xffffffff,
    });
    assert.equal((await raw.next())?.type, FrameType.Ok);
    let peak = 0;
    const timer = setInterval(() => peak = Math.max(peak, broker.stats().pendingBytes), 5);
    const payload = new Uint8Array(1024).fill(46);
    try {
      for (let i = 0; i < 20_000; i += 1000) {
        await Promise.all(Array.from({ length: 1000 }, () => mb.queues.send(queue, payload)));
      }
      await eventually(
        async () => (await mb.queues.info(queue)).inFlight > 0,
        5000,
        "deliveries to the raw consumer",
      );
    } finally {
      clearInterval(timer);
    }
    const info = await mb.queues.info(queue);
    assert.ok(peak < 4 * maxPendingBytes, `outbound peaked at ${peak} bytes`);
    assert.ok(
      info.inFlight < 20_000,
      `${info.inFlight} of 20,000 handed to a client that reads nothing`,
    );
    assert.equal(info.messages, 20_000, "nothing lost");
  } finally {
    await mb.close();
    await broker.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
