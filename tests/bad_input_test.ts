// Copyright mb authors. MIT license.
// Bad input on raw sockets: every case gets a coded error or a clean close,
// and the broker keeps serving other clients.

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
} from "../protocol/mod.ts";
import { deadline, eventually, startBroker, uniqueTopic } from "./_helpers.ts";

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

  static async open(url: string, hello = true): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    const client = new RawClient(await Deno.connect({ hostname, port: Number(port) }));
    if (hello) {
      await client.send({ type: FrameType.Hello, version: PROTOCOL_VERSION, hello: {} });
      const info = await client.next();
      assert.equal(info?.type, FrameType.Info);
    }
    return client;
  }

  send(frame: Frame): Promise<void> {
    return this.writer.write(encodeFrame(frame));
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.writer.write(bytes);
  }

  /** The next frame, or undefined when the server closed the connection. */
  async next(): Promise<Frame | undefined> {
    const result = await deadline(this.reader.read(), 5000, "next frame from the broker");
    return result.done ? undefined : result.value;
  }

  /** Asserts an error frame with `code`, then the close. */
  async expectErrorThenClose(code: string): Promise<void> {
    const frame = await this.next();
    assert.equal(
      frame?.type,
      FrameType.Error,
      `expected an error frame, got ${JSON.stringify(frame)}`,
    );
    assert.equal(frame.type === FrameType.Error && frame.code, code);
    await this.expectClose();
  }

  async expectClose(): Promise<void> {
    const after = await this.next().catch(() => undefined);
    assert.equal(after, undefined, "the broker closes the connection");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch { /* closed */ }
    await this.reader.cancel().catch(() => {});
  }
}

async function assertStillServing(url: string): Promise<void> {
  await using client = await connect(url);
  const topic = uniqueTopic("alive");
  const sub = client.subscribe(topic, { max: 1 });
  await client.flush();
  await client.publish(topic, "still here");
  for await (const msg of sub) assert.equal(msg.text(), "still here");
}

function publish(topic: string, requestId = 1): Frame {
  return {
    type: FrameType.Publish,
    requestId,
    topic,
    replyTo: "",
    headers: undefined,
    payload: new Uint8Array([1]),
  };
}

Deno.test("Broker answers garbage before the handshake with a coded error and closes", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url, false);
  await raw.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const frame = await raw.next();
  assert.equal(frame?.type, FrameType.Error);
  assert.ok(
    frame.type === FrameType.Error && ["FRAME_TOO_LARGE", "FRAME_UNKNOWN"].includes(frame.code),
  );
  await raw.expectClose();
  await assertStillServing(broker.url);
});

Deno.test("Broker requires a hello frame first: HANDSHAKE_REQUIRED", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url, false);
  await raw.send(publish("a/b"));
  await raw.expectErrorThenClose("HANDSHAKE_REQUIRED");
});

Deno.test("Broker refuses an unknown protocol version: PROTOCOL_VERSION", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url, false);
  await raw.send({ type: FrameType.Hello, version: 99, hello: {} });
  await raw.expectErrorThenClose("PROTOCOL_VERSION");
});

Deno.test("Broker closes a connection that sends no hello in time: HANDSHAKE_TIMEOUT", async () => {
  await using broker = await startBroker({ handshakeTimeoutMs: 100 });
  await using raw = await RawClient.open(broker.url, false);
  await raw.expectErrorThenClose("HANDSHAKE_TIMEOUT");
  await eventually(() => broker.stats().connections === 0, 2000, "connection released");
});

Deno.test("Broker rejects a frame over the limit before reading its body: FRAME_TOO_LARGE", async () => {
  await using broker = await startBroker({ maxPayloadBytes: 1024 });
  await using raw = await RawClient.open(broker.url);
  // Only the length field: the error must not wait for the declared bytes.
  await raw.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
  await raw.expectErrorThenClose("FRAME_TOO_LARGE");
  await assertStillServing(broker.url);
});

Deno.test("Broker rejects an unknown frame type: FRAME_UNKNOWN", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url);
  await raw.write(new Uint8Array([0, 0, 0, 3, 0x7e, 1, 2]));
  await raw.expectErrorThenClose("FRAME_UNKNOWN");
  await assertStillServing(broker.url);
});

Deno.test("Broker rejects a malformed frame body: FRAME_MALFORMED", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url);
  // A publish whose topic length points past the end of the frame.
  await raw.write(new Uint8Array([0, 0, 0, 8, FrameType.Publish, 0, 0, 0, 0, 0xff, 0xff, 0x61]));
  await raw.expectErrorThenClose("FRAME_MALFORMED");
});

Deno.test("Broker refuses frames only servers send: FRAME_UNKNOWN", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url);
  await raw.send({ type: FrameType.Ok, requestId: 1, result: new Uint8Array() });
  await raw.expectErrorThenClose("FRAME_UNKNOWN");
});

Deno.test("Broker cleans up after a truncated frame and a close", async () => {
  await using broker = await startBroker();
  const raw = await RawClient.open(broker.url);
  const whole = encodeFrame(publish("a/b"));
  await raw.write(whole.subarray(0, whole.length - 3));
  await raw[Symbol.asyncDispose]();
  await eventually(() => broker.stats().connections === 0, 2000, "connection released");
  await assertStillServing(broker.url);
});

Deno.test("Broker answers invalid topics with TOPIC_INVALID and keeps the connection", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url);
  const cases: Frame[] = [
    publish("a//b", 1),
    publish("/a", 2),
    publish("a/", 3),
    publish("a/+/b", 4),
    publish("a/#", 5),
    publish("x".repeat(1025), 6),
    publish("", 7),
    { type: FrameType.Subscribe, requestId: 8, sid: 1, pattern: "a/#/b", queue: "" },
    { type: FrameType.Subscribe, requestId: 9, sid: 2, pattern: "a/b+", queue: "" },
    { type: FrameType.Subscribe, requestId: 10, sid: 3, pattern: "a//b", queue: "" },
  ];
  for (const frame of cases) await raw.send(frame);
  // Invalid UTF-8 in a topic: 0xff is never valid.
  const invalidUtf8 = new Uint8Array([0x61, 0x2f, 0xff]);
  const frame = encodeFrame(publish("a/x", 11));
  frame.set(invalidUtf8, 4 + 1 + 4 + 2);
  await raw.write(frame);
  const ids = new Set<number>();
  for (let i = 0; i < cases.length + 1; i++) {
    const frame = await raw.next();
    assert.equal(frame?.type, FrameType.Error, JSON.stringify(frame));
    if (frame.type === FrameType.Error) {
      assert.equal(frame.code, "TOPIC_INVALID", frame.message);
      ids.add(frame.requestId);
    }
  }
  assert.deepEqual([...ids].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  // The connection still works.
  await raw.send({ type: FrameType.Ping });
  assert.equal((await raw.next())?.type, FrameType.Pong);
});

Deno.test("Broker caps subscriptions per connection with SUBSCRIPTION_LIMIT", async () => {
  await using broker = await startBroker({ maxSubscriptions: 100 });
  await using client = await connect(broker.url);
  const base = uniqueTopic();
  const subs = Array.from({ length: 150 }, (_, i) => client.subscribe(`${base}/${i}`));
  await client.flush();
  const errors: string[] = [];
  await Promise.all(
    subs.slice(100).map(async (sub) => {
      try {
        for await (const _ of sub) { /* none */ }
      } catch (error) {
        errors.push((error as { code: string }).code);
      }
    }),
  );
  assert.equal(errors.length, 50);
  assert.ok(errors.every((code) => code === "SUBSCRIPTION_LIMIT"));
  assert.equal(broker.stats().subscriptions, 100);
  // The first hundred still deliver.
  await client.publish(`${base}/7`, "x");
  const first = await deadline(subs[7][Symbol.asyncIterator]().next(), 5000, "delivery");
  assert.equal(first.value?.text(), "x");
  await assertStillServing(broker.url);
});

Deno.test("Broker disconnects a slow consumer with SLOW_CONSUMER", async () => {
  await using broker = await startBroker({ maxPendingBytes: 64 * 1024 });
  await using raw = await RawClient.open(broker.url);
  const topic = uniqueTopic();
  await raw.send({ type: FrameType.Subscribe, requestId: 1, sid: 1, pattern: topic, queue: "" });
  assert.equal((await raw.next())?.type, FrameType.Ok);
  // The raw client stops reading; a publisher floods it.
  await using publisher = await connect(broker.url);
  const payload = new Uint8Array(16 * 1024);
  for (let i = 0; i < 2000 && broker.stats().connections > 1; i++) {
    await publisher.publish(topic, payload);
    if (i % 50 === 0) await publisher.flush();
  }
  await eventually(() => broker.stats().connections === 1, 5000, "slow consumer dropped");
  // What it reads eventually ends with the error frame.
  let last: Frame | undefined;
  for (let frame = await raw.next(); frame !== undefined; frame = await raw.next()) last = frame;
  assert.equal(last?.type, FrameType.Error);
  assert.equal(last.type === FrameType.Error && last.code, "SLOW_CONSUMER");
  await assertStillServing(broker.url);
});

Deno.test("Broker drops and counts messages for a slow consumer under the drop policy", async () => {
  await using broker = await startBroker({ maxPendingBytes: 64 * 1024, slowConsumer: "drop" });
  await using raw = await RawClient.open(broker.url);
  const topic = uniqueTopic();
  await raw.send({ type: FrameType.Subscribe, requestId: 1, sid: 1, pattern: topic, queue: "" });
  assert.equal((await raw.next())?.type, FrameType.Ok);
  await using publisher = await connect(broker.url);
  const payload = new Uint8Array(16 * 1024);
  for (let i = 0; i < 2000 && broker.stats().dropped === 0; i++) {
    await publisher.publish(topic, payload);
    if (i % 50 === 0) await publisher.flush();
  }
  await publisher.flush();
  assert.ok(broker.stats().dropped > 0, "messages were dropped");
  assert.equal(broker.stats().connections, 2, "the slow consumer stays connected");
});

Deno.test("Broker pings idle clients and closes dead ones with STALE_CONNECTION", async () => {
  await using broker = await startBroker({ pingIntervalMs: 50 });
  await using raw = await RawClient.open(broker.url);
  const seen: string[] = [];
  for (let frame = await raw.next(); frame !== undefined; frame = await raw.next()) {
    seen.push(frame.type === FrameType.Error ? frame.code : String(frame.type));
  }
  assert.deepEqual(seen, [String(FrameType.Ping), String(FrameType.Ping), "STALE_CONNECTION"]);
});

Deno.test("Broker keeps a client that answers pings", async () => {
  await using broker = await startBroker({ pingIntervalMs: 30 });
  await using client = await connect(broker.url);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await client.flush();
  assert.equal(broker.stats().connections, 1);
});

Deno.test("Broker survives 10,000 connections opened and dropped; memory returns to baseline", async () => {
  await using broker = await startBroker();
  const { hostname, port } = new URL(broker.url);
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc?.();
    gc?.();
    return Deno.memoryUsage().heapUsed;
  };
  // Warm up so lazily created structures are in the baseline.
  await churn(250);
  await eventually(() => broker.stats().connections === 0, 10_000, "warm-up connections released");
  const baseline = heap();
  await churn(10_000);
  await eventually(() => broker.stats().connections === 0, 20_000, "all connections released");
  assert.equal(broker.stats().totalConnections, 10_250);
  const after = heap();
  if (gc !== undefined) {
    assert.ok(
      after < baseline + 8 * 1024 * 1024,
      `heap after ${after} bytes vs baseline ${baseline} bytes`,
    );
  }
  await assertStillServing(broker.url);

  async function churn(total: number): Promise<void> {
    const hello = encodeFrame({ type: FrameType.Hello, version: PROTOCOL_VERSION, hello: {} });
    const garbage = new Uint8Array([0, 0, 0, 2, 0x7e, 0]);
    const batch = 250;
    for (let done = 0; done < total; done += batch) {
      await Promise.all(Array.from({ length: batch }, async (_, i) => {
        const conn = await Deno.connect({ hostname, port: Number(port) });
        try {
          // A third say hello, a third send garbage, a third just drop.
          const kind = (done + i) % 3;
          if (kind === 0) await conn.write(hello);
          if (kind === 1) await conn.write(garbage);
        } catch {
          // The broker may already have closed it.
        } finally {
          conn.close();
        }
      }));
    }
  }
});

Deno.test("Broker stops reading from a client that never reads its answers", async () => {
  await using broker = await startBroker({ maxPendingBytes: 64 * 1024 });
  await using raw = await RawClient.open(broker.url);
  // Each unsubscribe of an unknown sid earns an error frame 4x its size.
  const frame = encodeFrame({ type: FrameType.Unsubscribe, requestId: 0, sid: 123456 });
  const chunk = new Uint8Array(frame.length * 4096);
  for (let i = 0; i < 4096; i++) chunk.set(frame, i * frame.length);
  let written = 0;
  let stalled = false;
  let write: Promise<unknown> | undefined;
  while (written < 32 * 1024 * 1024) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    write = raw.conn.write(chunk).catch(() => {});
    const progressed = await Promise.race([
      write.then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 500)),
    ]);
    clearTimeout(timer);
    if (!progressed) {
      stalled = true;
      break;
    }
    written += chunk.length;
  }
  const pending = broker.stats().pendingBytes;
  assert.ok(stalled, `the broker kept reading: ${written} bytes taken`);
  // The bound, plus the answers to the one chunk read before pausing.
  assert.ok(pending < 2 * 1024 * 1024, `${pending} bytes of answers queued while stalled`);
  await raw[Symbol.asyncDispose]();
  await write;
  await eventually(() => broker.stats().connections === 0, 5000, "connection closed");
});

Deno.test("Broker does not reserve maxFrameBytes for a declared length alone", async () => {
  await using broker = await startBroker({ maxPayloadBytes: 64 * 1024 * 1024 });
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = Deno.memoryUsage().external;
  const { hostname, port } = new URL(broker.url);
  const conns = await Promise.all(
    Array.from({ length: 50 }, () => Deno.connect({ hostname, port: Number(port) })),
  );
  // A length of 64 MiB and a type byte, then silence.
  await Promise.all(conns.map((conn) => conn.write(new Uint8Array([4, 0, 0, 0, 1, 1]))));
  await eventually(() => broker.stats().totalConnections === 50, 5000, "connections accepted");
  await new Promise((resolve) => setTimeout(resolve, 100));
  const grown = Deno.memoryUsage().external - before;
  for (const conn of conns) conn.close();
  assert.ok(grown < 64 * 1024 * 1024, `50 connections reserved ${grown} bytes`);
});

Deno.test("Broker refuses bad queue group names with INVALID_ARGUMENT", async () => {
  await using broker = await startBroker();
  await using raw = await RawClient.open(broker.url);
  const queues = ["a/b", "w+", "#", "q".repeat(1025), "bad\u0000name"];
  for (let i = 0; i < queues.length; i++) {
    await raw.send({
      type: FrameType.Subscribe,
      requestId: i + 1,
      sid: i + 1,
      pattern: "a",
      queue: queues[i],
    });
  }
  for (let i = 0; i < queues.length; i++) {
    const frame = await raw.next();
    assert.equal(frame?.type === FrameType.Error && frame.code, "INVALID_ARGUMENT");
  }
  assert.equal(broker.stats().subscriptions, 0);
});
