// Copyright mb authors. MIT license.
// The client's stream and queue APIs against a fake broker that speaks the
// durable frames over a real loopback socket (_fake_durable_broker.ts):
// confirmed publish offsets, admin commands, stream readers with credit and
// resume, queue send, fetch, consume, ack and nack, and local refusals.

import assert from "node:assert/strict";
import { connect, type Message } from "../mod.ts";
import { AckAction, type Frame, FrameType } from "../protocol/mod.ts";
import { fakeDurableBroker } from "./_fake_durable_broker.ts";
import { deadline } from "./_helpers.ts";

const encoder = new TextEncoder();

function ofType<T extends Frame["type"]>(
  frames: Frame[],
  type: T,
): Extract<Frame, { type: T }>[] {
  return frames.filter((f) => f.type === type) as Extract<Frame, { type: T }>[];
}

async function take(sub: AsyncIterable<Message>, count: number): Promise<Message[]> {
  const out: Message[] = [];
  if (count === 0) return out;
  for await (const message of sub) {
    out.push(message);
    if (out.length === count) break;
  }
  return out;
}

Deno.test("Client.publish with confirm resolves with the stream offset, or undefined", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.streams.create({ name: "orders", topics: ["orders/#"] });
  assert.equal(await mb.publish("orders/new", "a", { confirm: true }), 0);
  assert.equal(await mb.publish("orders/new", "b", { confirm: true }), 1);
  assert.equal(await mb.publish("other/topic", "c", { confirm: true }), undefined);
  assert.equal(await mb.publish("orders/new", "d"), undefined);
  await mb.flush();
  assert.equal(broker.streams.get("orders")!.messages.length, 3);
  await mb.close();
  await broker.close();
});

Deno.test("Streams and Queues send JSON commands and parse their results", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  const created = await mb.streams.create({ name: "s1", topics: ["a/#"], maxMsgs: 10 });
  assert.equal(created.name, "s1");
  assert.equal(created.maxMsgs, 10);
  assert.equal((await mb.streams.info("s1")).messages, 0);
  assert.deepEqual((await mb.streams.list()).map((s) => s.name), ["s1"]);
  await assert.rejects(mb.streams.create({ name: "s1", topics: ["a/#"] }), {
    code: "ALREADY_EXISTS",
  });
  assert.equal(await mb.streams.purge("s1"), 0);
  assert.equal(await mb.streams.delete("s1"), undefined);
  await assert.rejects(mb.streams.info("s1"), { code: "STREAM_UNKNOWN" });

  const declared = await mb.queues.declare("q1", { ackWaitMs: 1000, maxDeliver: 3 });
  assert.equal(declared.name, "q1");
  assert.equal(declared.ackWaitMs, 1000);
  assert.deepEqual((await mb.queues.list()).map((q) => q.name), ["q1"]);
  await mb.queues.send("q1", "x");
  assert.equal((await mb.queues.info("q1")).messages, 1);
  assert.equal(await mb.queues.purge("q1"), 1);
  await mb.queues.delete("q1");
  await assert.rejects(mb.queues.info("q1"), { code: "QUEUE_UNKNOWN" });
  const commands = ofType(broker.received, FrameType.Command).map((f) => f.op);
  assert.deepEqual(commands.slice(0, 3), ["stream.create", "stream.info", "stream.list"]);
  await mb.close();
  await broker.close();
});

Deno.test("Streams and Queues refuse bad names locally with INVALID_ARGUMENT", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.flush();
  const before = broker.received.length;
  await assert.rejects(mb.streams.info("../etc"), { code: "INVALID_ARGUMENT" });
  await assert.rejects(mb.streams.create({ name: "", topics: ["a"] }), {
    code: "INVALID_ARGUMENT",
  });
  await assert.rejects(mb.streams.create({ name: "s", topics: [] }), {
    code: "INVALID_ARGUMENT",
  });
  await assert.rejects(mb.streams.create({ name: "s", topics: ["a/#/b"] }), {
    code: "TOPIC_INVALID",
  });
  await assert.rejects(mb.queues.declare(".hidden"), { code: "INVALID_ARGUMENT" });
  await assert.rejects(mb.queues.send("a b", "x"), { code: "INVALID_ARGUMENT" });
  await assert.rejects(mb.queues.fetch("q", { max: 0 }), { code: "INVALID_ARGUMENT" });
  assert.throws(() => mb.queues.consume("q/1"), { code: "INVALID_ARGUMENT" });
  assert.throws(() => mb.queues.consume("q", { prefetch: 0 }), { code: "INVALID_ARGUMENT" });
  await mb.flush();
  assert.equal(broker.received.length, before + 1, "only the flush's ping was sent");
  await mb.close();
  await broker.close();
});

Deno.test("Client.subscribe checks stream options synchronously", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  for (const from of [-1, 1.5, Number.NaN, "oldest", new Date(Number.NaN)]) {
    assert.throws(
      () => mb.subscribe("#", { stream: "s", from: from as number }),
      { code: "INVALID_ARGUMENT" },
      `from ${String(from)}`,
    );
  }
  assert.throws(() => mb.subscribe("#", { stream: "s", credit: 0 }), {
    code: "INVALID_ARGUMENT",
  });
  assert.throws(() => mb.subscribe("#", { stream: "a/b" }), { code: "INVALID_ARGUMENT" });
  assert.throws(() => mb.subscribe("#", { stream: "s", queue: "g" }), {
    code: "INVALID_ARGUMENT",
  });
  assert.throws(() => mb.subscribe("#", { from: "first" }), { code: "INVALID_ARGUMENT" });
  await mb.close();
  await broker.close();
});

Deno.test("A stream reader replays with offsets and tops up its credit as messages are taken", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.streams.create({ name: "log", topics: ["log/#"] });
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) await mb.publish(`log/${i % 2 === 0 ? "even" : "odd"}`, `m${i}`);
  await mb.flush();

  const sub = mb.subscribe("#", { stream: "log", from: "first", credit: 4 });
  await deadline(sub.ready, 2000, "stream reader ready");
  const subscribeFrame = ofType(broker.received, FrameType.StreamSubscribe)[0];
  assert.deepEqual(subscribeFrame.start, { kind: "first" });
  assert.equal(subscribeFrame.credit, 4);
  // The broker stops at the credit until the application takes messages.
  await mb.flush();
  assert.equal(ofType(broker.received, FrameType.Credit).length, 0);

  const messages = await deadline(take(sub, 10), 5000, "10 stream messages");
  assert.deepEqual(messages.map((m) => m.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(messages.map((m) => m.text()), messages.map((_, i) => `m${i}`));
  assert.ok(messages[0].timestamp! >= t0);
  const credits = ofType(broker.received, FrameType.Credit);
  assert.ok(credits.length >= 3, `credit was topped up (${credits.length} frames)`);
  assert.ok(credits.every((c) => c.credit === 2 && c.sid === subscribeFrame.sid));
  assert.equal(sub.lastOffset, 9);

  // A pattern filters, and a date starts from the first message stored at or after it.
  const odd = mb.subscribe("log/odd", { stream: "log", from: new Date(t0) });
  assert.deepEqual((await deadline(take(odd, 5), 2000, "odd")).map((m) => m.offset), [
    1,
    3,
    5,
    7,
    9,
  ]);
  const last = mb.subscribe("#", { stream: "log", from: "last" });
  assert.equal((await deadline(take(last, 1), 2000, "last"))[0].offset, 9);
  const at = mb.subscribe("#", { stream: "log", from: 7 });
  assert.deepEqual((await deadline(take(at, 3), 2000, "from 7")).map((m) => m.offset), [7, 8, 9]);
  await mb.close();
  await broker.close();
});

Deno.test("A stream reader with a callback gets credit back as the callback runs", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.streams.create({ name: "cb", topics: ["cb"] });
  for (let i = 0; i < 20; i++) await mb.publish("cb", String(i));
  const offsets: number[] = [];
  const all = Promise.withResolvers<void>();
  mb.subscribe("cb", {
    stream: "cb",
    from: 0,
    credit: 6,
    callback: (m) => {
      offsets.push(m.offset!);
      if (offsets.length === 20) all.resolve();
    },
  });
  await deadline(all.promise, 5000, "20 messages through a callback");
  assert.deepEqual(offsets, [...Array(20).keys()]);
  await mb.close();
  await broker.close();
});

Deno.test("A stream reader of an unknown stream or offset ends with the broker's error", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  const unknown = mb.subscribe("#", { stream: "missing" });
  await assert.rejects(unknown.ready, { code: "STREAM_UNKNOWN" });
  await assert.rejects(take(unknown, 1), { code: "STREAM_UNKNOWN" });
  assert.equal(unknown.ended, true);

  await mb.streams.create({ name: "short", topics: ["short"] });
  const beyond = mb.subscribe("#", { stream: "short", from: 5 });
  await assert.rejects(take(beyond, 1), { code: "OFFSET_OUT_OF_RANGE" });
  await assert.rejects(beyond.ready, { code: "OFFSET_OUT_OF_RANGE" });
  // A core subscription's ready resolves once the broker has it.
  await deadline(mb.subscribe("x").ready, 2000, "core subscription ready");
  await mb.close();
  await broker.close();
});

Deno.test("A stream reader resumes after its last offset when the client reconnects", async () => {
  const broker = fakeDurableBroker();
  const reconnected = Promise.withResolvers<void>();
  const mb = await connect(broker.url, {
    reconnectDelayMs: 10,
    onStatus: (event) => {
      if (event.type === "reconnect") reconnected.resolve();
    },
  });
  await mb.streams.create({ name: "r", topics: ["r"] });
  for (let i = 0; i < 3; i++) await mb.publish("r", `m${i}`);
  const sub = mb.subscribe("r", { stream: "r", from: "first" });
  const iterator = sub[Symbol.asyncIterator]();
  const first = [];
  for (let i = 0; i < 3; i++) first.push((await iterator.next()).value!.offset);
  assert.deepEqual(first, [0, 1, 2]);

  broker.dropConnections();
  await deadline(reconnected.promise, 5000, "reconnect");
  broker.append("r", "r", "m3");
  broker.append("r", "r", "m4");
  const rest = [];
  for (let i = 0; i < 2; i++) rest.push((await deadline(iterator.next(), 5000, "after")).value!);
  assert.deepEqual(rest.map((m) => [m.offset, m.text()]), [[3, "m3"], [4, "m4"]]);
  const subscribes = ofType(broker.received, FrameType.StreamSubscribe);
  assert.equal(subscribes.length, 2);
  assert.deepEqual(subscribes[1].start, { kind: "offset", value: 3 });
  assert.equal(subscribes[1].sid, subscribes[0].sid);
  await mb.close();
  await broker.close();
});

Deno.test("Queues.send returns ids; fetch takes jobs; ack and nack settle them", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.queues.declare("work");
  assert.equal(await mb.queues.send("work", "one"), 1);
  assert.equal(
    await mb.queues.send("work", encoder.encode("two"), { topic: "jobs/two" }),
    2,
  );
  await assert.rejects(mb.queues.send("nope", "x"), { code: "QUEUE_UNKNOWN" });

  const jobs = await mb.queues.fetch("work", { max: 5 });
  assert.deepEqual(jobs.map((j) => [j.id, j.topic, j.text(), j.queue, j.deliveryCount]), [
    [1, "work", "one", "work", 1],
    [2, "jobs/two", "two", "work", 1],
  ]);
  assert.equal(jobs[0].timestamp, 1700000000001);
  await jobs[0].ack();
  await assert.rejects(jobs[0].ack(), { code: "MESSAGE_UNKNOWN" });
  await jobs[1].nack({ delayMs: 10 });
  const ack = ofType(broker.received, FrameType.Ack).at(-1)!;
  assert.equal(ack.action, AckAction.Nack);
  assert.equal(ack.delayMs, 10);
  await assert.rejects(jobs[1].nack({ delayMs: -1 }), { code: "INVALID_ARGUMENT" });

  const again = await mb.queues.fetch("work");
  assert.deepEqual(again.map((j) => [j.id, j.deliveryCount]), [[2, 2]]);
  await again[0].ack();
  assert.deepEqual(await mb.queues.fetch("work"), []);

  // A long poll waits for a send.
  const polled = mb.queues.fetch("work", { waitMs: 5000 });
  await mb.flush();
  await mb.queues.send("work", "late");
  assert.deepEqual((await deadline(polled, 5000, "long poll")).map((j) => j.text()), ["late"]);
  await assert.rejects(mb.queues.fetch("nope"), { code: "QUEUE_UNKNOWN" });
  await mb.close();
  await broker.close();
});

Deno.test("Queues.fetch fails with TIMEOUT when the broker does not answer in waitMs + timeoutMs", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.queues.declare("slow");
  // The fake answers an empty long poll only when a message comes.
  await assert.rejects(
    deadline(mb.queues.fetch("slow", { waitMs: 50, timeoutMs: 50 }), 2000, "fetch timeout"),
    { code: "TIMEOUT" },
  );
  await mb.close();
  await broker.close();
});

Deno.test("QueueConsumer holds up to prefetch jobs, gets more as it acks, ends on close", async () => {
  const broker = fakeDurableBroker();
  const mb = await connect(broker.url);
  await mb.queues.declare("tasks");
  for (let i = 0; i < 5; i++) await mb.queues.send("tasks", `t${i}`);
  const consumer = mb.queues.consume("tasks", { prefetch: 2 });
  await deadline(consumer.ready, 2000, "consumer ready");
  const seen: string[] = [];
  for await (const job of consumer) {
    seen.push(job.text());
    await job.ack();
    if (seen.length === 5) break;
  }
  assert.deepEqual(seen, ["t0", "t1", "t2", "t3", "t4"]);
  assert.equal(await consumer.closed, undefined);
  assert.equal(consumer.ended, true);
  const consume = ofType(broker.received, FrameType.QueueConsume)[0];
  assert.equal(consume.prefetch, 2);
  await mb.flush();
  assert.ok(
    ofType(broker.received, FrameType.Unsubscribe).some((f) => f.sid === consume.sid),
    "breaking out of the loop unsubscribed the consumer",
  );

  const missing = mb.queues.consume("missing");
  await assert.rejects(missing.ready, { code: "QUEUE_UNKNOWN" });
  assert.equal((await missing.closed)?.code, "QUEUE_UNKNOWN");
  await mb.close();
  await broker.close();
});

Deno.test("QueueConsumer is started again after a reconnect", async () => {
  const broker = fakeDurableBroker();
  const reconnected = Promise.withResolvers<void>();
  const mb = await connect(broker.url, {
    reconnectDelayMs: 10,
    onStatus: (event) => {
      if (event.type === "reconnect") reconnected.resolve();
    },
  });
  await mb.queues.declare("r");
  const consumer = mb.queues.consume("r");
  await consumer.ready;
  broker.dropConnections();
  await deadline(reconnected.promise, 5000, "reconnect");
  const sent = await mb.queues.send("r", "after");
  const iterator = consumer[Symbol.asyncIterator]();
  const job = (await deadline(iterator.next(), 5000, "job after reconnect")).value!;
  assert.equal(job.id, sent);
  await job.ack();
  const consumes = ofType(broker.received, FrameType.QueueConsume);
  assert.equal(consumes.length, 2);
  assert.equal(consumes[1].sid, consumes[0].sid);
  await mb.close();
  assert.equal(await consumer.closed, undefined);
  await broker.close();
});

Deno.test("Durable APIs refuse locally, sending nothing, when the broker has no store", async () => {
  const broker = fakeDurableBroker({});
  const mb = await connect(broker.url);
  assert.equal(mb.info.store, undefined);
  await assert.rejects(mb.streams.list(), { code: "INVALID_ARGUMENT" });
  await assert.rejects(mb.streams.create({ name: "s", topics: ["a"] }), {
    code: "INVALID_ARGUMENT",
  });
  await assert.rejects(mb.queues.declare("q"), { code: "INVALID_ARGUMENT" });
  await assert.rejects(mb.queues.send("q", "x"), { code: "INVALID_ARGUMENT" });
  await assert.rejects(mb.queues.fetch("q"), { code: "INVALID_ARGUMENT" });
  assert.throws(() => mb.queues.consume("q"), { code: "INVALID_ARGUMENT" });
  assert.throws(() => mb.subscribe("#", { stream: "s" }), { code: "INVALID_ARGUMENT" });
  await mb.flush();
  assert.deepEqual(broker.received.map((f) => f.type), [FrameType.Ping]);
  await mb.close();
  await broker.close();
});
