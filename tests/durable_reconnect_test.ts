// Copyright mb authors. MIT license.
// Stream readers and queue consumers across a broker restart: a reader
// resumes where it stood, a consumer drops the jobs of the lost connection
// (the broker delivers them again) and refuses to settle old copies.

import assert from "node:assert/strict";
import { type Client, connect, type Job, type StatusEvent } from "../mod.ts";
import { Broker } from "../server/mod.ts";
import { deadline, take, tempDataDir, uniqueName, uniqueTopic } from "./_helpers.ts";

interface Restartable extends AsyncDisposable {
  url: string;
  mb: Client;
  /** Stops the broker, starts a new one on the same port and data, waits for the reconnect. */
  restart(): Promise<void>;
}

async function restartable(): Promise<Restartable> {
  const dir = await tempDataDir();
  let broker = new Broker({
    hostname: "127.0.0.1",
    port: 0,
    httpPort: null,
    mqttPort: null,
    dataDir: dir,
  });
  await broker.start();
  const port = broker.addresses[0].port!;
  const url = `mb://127.0.0.1:${port}`;
  let reconnected = Promise.withResolvers<void>();
  const mb = await connect(url, {
    reconnectDelayMs: 20,
    onStatus: (event: StatusEvent) => {
      if (event.type === "reconnect") reconnected.resolve();
    },
  });
  return {
    url,
    mb,
    async restart() {
      reconnected = Promise.withResolvers<void>();
      await broker.stop();
      broker = new Broker({
        hostname: "127.0.0.1",
        port,
        httpPort: null,
        mqttPort: null,
        dataDir: dir,
      });
      await broker.start();
      await deadline(reconnected.promise, 10_000, "the client reconnecting");
    },
    async [Symbol.asyncDispose]() {
      await mb.close();
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("Stream reader started at a time resumes at that time after a reconnect, not from the start", async () => {
  await using env = await restartable();
  const { mb } = env;
  const name = uniqueName("time");
  const base = uniqueTopic("time");
  await mb.streams.create({ name, topics: [`${base}/#`] });
  for (let i = 0; i < 5; i++) await mb.publish(`${base}/old`, `old-${i}`, { confirm: true });
  const since = new Date(Date.now() + 1);
  while (Date.now() <= since.getTime()) await new Promise((resolve) => setTimeout(resolve, 1));
  const sub = mb.subscribe(`${base}/#`, { stream: name, from: since });
  await sub.ready;
  await env.restart();
  await mb.publish(`${base}/new`, "new-0", { confirm: true });
  const [first] = await take(sub[Symbol.asyncIterator](), 1, 5000, "the first message");
  assert.equal(first.text(), "new-0");
  assert.equal(first.offset, 5);
});

Deno.test("QueueConsumer drops the jobs of a lost connection and refuses to settle old copies", async () => {
  await using env = await restartable();
  const { mb } = env;
  const queue = uniqueName("jobs");
  await mb.queues.declare(queue);
  for (let i = 0; i < 5; i++) await mb.queues.send(queue, `m${i}`);
  const consumer = mb.queues.consume(queue, { prefetch: 10 });
  const iterator = consumer[Symbol.asyncIterator]();
  // One job taken by the application before the restart; four still buffered.
  const [old] = await take(iterator, 1, 5000, "a job before the restart");
  assert.equal(old.deliveryCount, 1);
  await env.restart();
  await assert.rejects(old.ack(), { code: "MESSAGE_UNKNOWN" });
  const jobs: Job[] = await take(iterator, 5, 5000, "the jobs again after the restart");
  assert.deepEqual(jobs.map((job) => job.text()).sort(), ["m0", "m1", "m2", "m3", "m4"]);
  for (const job of jobs) {
    assert.equal(job.deliveryCount, 2, `${job.text()} is a redelivery`);
    await job.ack();
  }
  assert.equal((await mb.queues.info(queue)).messages, 0);
  await consumer.close();
});
