// Copyright mb authors. MIT license.
// Work queues end to end: competing consumers share the jobs, each acked
// once; jobs held by a consumer that dies, or not acked in time, are
// delivered again; jobs nacked maxDeliver times go to the dead-letter queue;
// pull consumers long-poll with fetch; topics bound to a queue fill it; and
// `mb pull` prints a job.

import assert from "node:assert/strict";
import { type Client, connect } from "../mod.ts";
import type { BrokerOptions } from "../server/mod.ts";
import {
  deadline,
  eventually,
  lines,
  ROOT,
  startBroker,
  stopChild,
  take,
  tempDataDir,
  uniqueName,
  uniqueTopic,
} from "./_helpers.ts";

/** A broker on a fresh data directory and one client. */
interface Env extends AsyncDisposable {
  broker: Awaited<ReturnType<typeof startBroker>>;
  mb: Client;
}

async function open(options: BrokerOptions = {}): Promise<Env> {
  const dir = await tempDataDir();
  const broker = await startBroker({ dataDir: dir, ...options });
  const mb = await connect(broker.url);
  return {
    broker,
    mb,
    async [Symbol.asyncDispose]() {
      await mb.close();
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A client whose socket the test can cut without a goodbye, as a crash would. */
async function connectKillable(url: string): Promise<{ client: Client; kill(): void }> {
  let conn: Deno.Conn | undefined;
  const client = await connect(url, {
    reconnect: false,
    transport: async (server) => {
      conn = await Deno.connect({ hostname: server.hostname, port: Number(server.port) });
      return conn;
    },
  });
  return { client, kill: () => conn!.close() };
}

/** Sends `text(i)` for i in [0, count), `chunk` in flight at a time; returns the ids. */
async function sendRange(
  mb: Client,
  queue: string,
  count: number,
  text: (i: number) => string = (i) => `job-${i}`,
  chunk = 500,
): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < count; start += chunk) {
    const batch: Promise<number>[] = [];
    for (let i = start; i < Math.min(start + chunk, count); i++) {
      batch.push(mb.queues.send(queue, text(i)));
    }
    ids.push(...await Promise.all(batch));
  }
  assert.equal(new Set(ids).size, count, "send returns a distinct id for each message");
  return ids;
}

Deno.test("Queue splits 3,000 jobs among 3 competing consumers: every id acked exactly once, each consumer gets some", async () => {
  await using env = await open();
  const { broker, mb } = env;
  const queue = uniqueName("work");
  await mb.queues.declare(queue);
  await using c0 = await connect(broker.url);
  await using c1 = await connect(broker.url);
  await using c2 = await connect(broker.url);
  const clients = [c0, c1, c2];
  const consumers = clients.map((c) => c.queues.consume(queue, { prefetch: 50 }));
  await Promise.all(clients.map((c) => c.flush()));
  await eventually(
    async () => (await mb.queues.info(queue)).consumers === 3,
    5000,
    "three consumers attached",
  );

  const COUNT = 3000;
  const ids = await deadline(sendRange(mb, queue, COUNT), 20_000, "sending 3,000 jobs");
  const textOf = new Map(ids.map((id, i) => [id, `job-${i}`]));

  const seenBy = new Map<number, number>();
  const problems: string[] = [];
  const counts = [0, 0, 0];
  const acks: Promise<void>[] = [];
  const all = Promise.withResolvers<void>();
  const loops = consumers.map(async (jobs, c) => {
    for await (const job of jobs) {
      if (seenBy.has(job.id)) {
        problems.push(`id ${job.id} delivered to ${seenBy.get(job.id)} and to ${c}`);
      }
      if (job.text() !== textOf.get(job.id)) {
        problems.push(`id ${job.id} carries ${job.text()}, sent as ${textOf.get(job.id)}`);
      }
      if (job.deliveryCount !== 1) problems.push(`id ${job.id} deliveryCount ${job.deliveryCount}`);
      seenBy.set(job.id, c);
      counts[c]++;
      acks.push(job.ack());
      if (seenBy.size === COUNT) all.resolve();
    }
  });
  try {
    await deadline(all.promise, 20_000, "3,000 jobs consumed");
  } finally {
    await Promise.all(consumers.map((jobs) => jobs.close()));
    await deadline(Promise.all(loops), 5000, "consumer loops ending after close()");
  }
  await deadline(Promise.all(acks), 10_000, "3,000 acks confirmed");
  assert.deepEqual(problems, []);
  assert.equal(seenBy.size, COUNT);
  assert.deepEqual([...seenBy.keys()].sort((a, b) => a - b), [...ids].sort((a, b) => a - b));
  assert.ok(counts.every((n) => n > 0), `each consumer got some: ${counts}`);
  const info = await mb.queues.info(queue);
  assert.equal(info.messages, 0);
  assert.equal(info.inFlight, 0);
});

Deno.test("Queue redelivers the unacked jobs of a consumer whose connection dies to the others, with deliveryCount 2", async () => {
  await using env = await open();
  const { broker, mb } = env;
  const queue = uniqueName("victim");
  await mb.queues.declare(queue);
  const victim = await connectKillable(broker.url);
  try {
    const held = victim.client.queues.consume(queue, { prefetch: 10 });
    await victim.client.flush();
    const ids = await sendRange(mb, queue, 20);
    const victimJobs = await take(held[Symbol.asyncIterator](), 10, 5000, "10 jobs to the victim");
    assert.deepEqual(victimJobs.map((j) => j.deliveryCount), Array(10).fill(1));
    const victimIds = new Set(victimJobs.map((j) => j.id));
    assert.equal((await mb.queues.info(queue)).inFlight, 10, "prefetch 10 holds 10 in flight");

    await using o1 = await connect(broker.url);
    await using o2 = await connect(broker.url);
    const others = [o1, o2].map((c) => c.queues.consume(queue, { prefetch: 10 }));
    await Promise.all([o1.flush(), o2.flush()]);
    const got = new Map<number, number>();
    const problems: string[] = [];
    const acks: Promise<void>[] = [];
    const all = Promise.withResolvers<void>();
    const loops = others.map(async (jobs) => {
      for await (const job of jobs) {
        if (got.has(job.id)) problems.push(`id ${job.id} delivered twice to the survivors`);
        got.set(job.id, job.deliveryCount);
        acks.push(job.ack());
        if (got.size === ids.length) all.resolve();
      }
    });
    // The survivors take the 10 the victim does not hold.
    await eventually(() => got.size >= 10, 5000, "the survivors getting the other 10 jobs");
    victim.kill();
    try {
      await deadline(all.promise, 10_000, "the victim's 10 jobs redelivered to the survivors");
    } finally {
      await Promise.all(others.map((jobs) => jobs.close()));
      await deadline(Promise.all(loops), 5000, "consumer loops ending after close()");
    }
    await Promise.all(acks);
    assert.deepEqual(problems, []);
    for (const id of ids) {
      assert.equal(
        got.get(id),
        victimIds.has(id) ? 2 : 1,
        `deliveryCount of id ${id} (${victimIds.has(id) ? "held" : "not held"} by the victim)`,
      );
    }
    const info = await mb.queues.info(queue);
    assert.equal(info.messages, 0);
    assert.equal(info.inFlight, 0);
  } finally {
    await victim.client.close().catch(() => {});
  }
});

Deno.test("Queue redelivers a job not acked within ackWaitMs, with deliveryCount 2", async () => {
  await using env = await open();
  const { mb } = env;
  const queue = uniqueName("deadline");
  const declared = await mb.queues.declare(queue, { ackWaitMs: 200 });
  assert.equal(declared.ackWaitMs, 200);
  const [id] = await sendRange(mb, queue, 1);
  const [first] = await mb.queues.fetch(queue, { max: 1, waitMs: 1000 });
  const deliveredAt = performance.now();
  assert.equal(first?.id, id);
  assert.equal(first.deliveryCount, 1);
  // Not acked: it comes back once the ack deadline passes.
  const again = await deadline(
    mb.queues.fetch(queue, { max: 1, waitMs: 5000 }),
    6000,
    "redelivery after the ack deadline",
  );
  const waited = performance.now() - deliveredAt;
  assert.equal(again.length, 1);
  assert.equal(again[0].id, id);
  assert.equal(again[0].deliveryCount, 2);
  assert.equal(again[0].text(), "job-0");
  assert.ok(
    waited >= 190,
    `redelivered after ${waited.toFixed(0)} ms, not before the 200 ms deadline`,
  );
  assert.ok(waited < 3000, `redelivered after ${waited.toFixed(0)} ms, soon after the deadline`);
  await again[0].ack();
  assert.equal((await mb.queues.info(queue)).messages, 0);
});

Deno.test("Queue moves a job nacked maxDeliver (2) times to its dead-letter queue", async () => {
  await using env = await open();
  const { mb } = env;
  const queue = uniqueName("poison");
  const dlq = uniqueName("dlq");
  await mb.queues.declare(dlq);
  await mb.queues.declare(queue, { maxDeliver: 2, deadLetter: dlq });
  const [id] = await sendRange(mb, queue, 1, () => "poison");

  for (const count of [1, 2]) {
    const [job] = await mb.queues.fetch(queue, { max: 1, waitMs: 5000 });
    assert.equal(job?.id, id, `delivery ${count}`);
    assert.equal(job.deliveryCount, count);
    await job.nack({ delayMs: 0 });
  }
  const [dead] = await mb.queues.fetch(dlq, { max: 1, waitMs: 5000 });
  assert.equal(dead?.text(), "poison", "the job is in the dead-letter queue");
  assert.equal(dead.queue, dlq);
  await dead.ack();
  assert.deepEqual(await mb.queues.fetch(queue, { max: 1, waitMs: 100 }), [], "no third delivery");
  const info = await mb.queues.info(queue);
  assert.equal(info.messages, 0);
  assert.equal(info.deadLettered, 1);
  assert.equal((await mb.queues.info(dlq)).messages, 0);
});

Deno.test("Queue fetch waits for a later send, returns [] after waitMs when empty, and respects max", async () => {
  await using env = await open();
  const { broker, mb } = env;
  const queue = uniqueName("pull");
  await mb.queues.declare(queue);

  // Empty: [] once waitMs has passed.
  let start = performance.now();
  assert.deepEqual(
    await deadline(mb.queues.fetch(queue, { max: 5, waitMs: 200 }), 5000, "empty fetch"),
    [],
  );
  let took = performance.now() - start;
  assert.ok(
    took >= 190 && took < 2000,
    `an empty fetch with waitMs 200 took ${took.toFixed(0)} ms`,
  );

  // Waiting: returns as soon as a message is sent, long before waitMs.
  await using sender = await connect(broker.url);
  start = performance.now();
  const waiting = mb.queues.fetch(queue, { max: 5, waitMs: 10_000 });
  await eventually(
    async () => (await sender.queues.info(queue)).consumers === 1,
    5000,
    "the fetch waiting at the broker",
  );
  await sender.queues.send(queue, "late");
  const got = await deadline(waiting, 5000, "the waiting fetch returning the late message");
  took = performance.now() - start;
  assert.deepEqual(got.map((j) => j.text()), ["late"]);
  assert.ok(took < 5000, `the waiting fetch returned after ${took.toFixed(0)} ms`);
  await got[0].ack();

  // max: at most that many, the rest stay for the next fetch.
  const ids = await sendRange(mb, queue, 10);
  const three = await mb.queues.fetch(queue, { max: 3, waitMs: 1000 });
  assert.equal(three.length, 3);
  const rest: Awaited<ReturnType<typeof mb.queues.fetch>> = [];
  while (rest.length < 7) {
    const batch = await mb.queues.fetch(queue, { max: 100, waitMs: 1000 });
    assert.ok(batch.length > 0, `the other ${7 - rest.length} jobs are fetchable`);
    rest.push(...batch);
  }
  assert.equal(rest.length, 7);
  assert.deepEqual(
    [...three, ...rest].map((j) => j.id).sort((a, b) => a - b),
    [...ids].sort((a, b) => a - b),
  );
  await Promise.all([...three, ...rest].map((j) => j.ack()));
  assert.equal((await mb.queues.info(queue)).messages, 0);
});

Deno.test("Queue declared with topics takes the messages published to them", async () => {
  await using env = await open();
  const { mb } = env;
  const base = uniqueTopic("bound");
  const queue = uniqueName("bound");
  await mb.queues.declare(queue, { topics: [`${base}/orders/#`] });
  await mb.publish(`${base}/orders/eu`, "order-1", { confirm: true });
  await mb.publish(`${base}/invoices/eu`, "not for the queue", { confirm: true });
  await mb.publish(`${base}/orders/us`, "order-2", { confirm: true });
  const jobs = await mb.queues.fetch(queue, { max: 10, waitMs: 1000 });
  const more = jobs.length < 2 ? await mb.queues.fetch(queue, { max: 10, waitMs: 1000 }) : [];
  const all = [...jobs, ...more];
  assert.deepEqual(
    all.map((j) => [j.queue, j.topic, j.text()]),
    [[queue, `${base}/orders/eu`, "order-1"], [queue, `${base}/orders/us`, "order-2"]],
  );
  await Promise.all(all.map((j) => j.ack()));
  assert.deepEqual(await mb.queues.fetch(queue, { max: 10, waitMs: 100 }), []);
});

Deno.test("mb pull QUEUE prints a message sent to the queue", async () => {
  await using env = await open();
  const { broker, mb } = env;
  const queue = uniqueName("cli");
  await mb.queues.declare(queue);
  const text = `hello ${crypto.randomUUID()}`;
  await mb.queues.send(queue, text);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}client/cli.ts`, "pull", "--server", broker.url, queue],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = lines(child.stdout);
  const stderr = new Response(child.stderr).text();
  const printed = Array.fromAsync(stdout);
  try {
    const status = await deadline(child.status, 20_000, `mb pull ${queue} exiting`);
    assert.equal(status.code, 0, await stderr);
    const out = await printed;
    assert.ok(out.some((line) => line.includes(text)), `mb pull printed ${JSON.stringify(out)}`);
  } finally {
    await stopChild(child, stdout, stderr, printed.catch(() => {}));
  }
});
