// Copyright mb authors. MIT license.
// The store across restarts: a clean stop and start keeps streams and
// offsets; a SIGKILL of the server process mid-publish loses nothing that
// was confirmed and corrupts nothing; queue state (what was acked) survives;
// a segment file cut in the middle of a record is recovered up to the cut.

import assert from "node:assert/strict";
import { type Client, connect, MbError } from "../mod.ts";
import {
  deadline,
  spawnServer,
  startBroker,
  take,
  tempDataDir,
  uniqueName,
  uniqueTopic,
} from "./_helpers.ts";

/** Publishes `text(i)` for i in [from, from + count), `chunk` confirmed at a time; returns offsets. */
async function publishRange(
  mb: Client,
  topic: string,
  from: number,
  count: number,
  chunk = 500,
  text: (i: number) => string = (i) => `msg-${i}`,
): Promise<(number | undefined)[]> {
  const offsets: (number | undefined)[] = [];
  for (let start = from; start < from + count; start += chunk) {
    const batch: Promise<number | undefined>[] = [];
    for (let i = start; i < Math.min(start + chunk, from + count); i++) {
      batch.push(mb.publish(topic, text(i), { confirm: true }));
    }
    offsets.push(...await Promise.all(batch));
  }
  return offsets;
}

/** Asserts `offsets[k] === first + k` for every k, naming the first that is not. */
function assertConsecutive(offsets: readonly (number | undefined)[], first: number, what: string) {
  const bad = offsets.findIndex((offset, k) => offset !== first + k);
  assert.equal(
    bad,
    -1,
    `${what}: expected offsets ${first}..${first + offsets.length - 1}, ` +
      `but #${bad} is ${offsets[bad]} (neighbours ${offsets.slice(Math.max(0, bad - 2), bad + 3)})`,
  );
}

function offsetOf(msg: { offset?: number }): number {
  assert.equal(typeof msg.offset, "number", "a stream message carries its offset");
  return msg.offset as number;
}

Deno.test("Stream survives a broker restart: old messages readable, offsets continue, replay joins live", async () => {
  const dir = await tempDataDir();
  try {
    const base = uniqueTopic("restart");
    const topic = `${base}/t`;
    const name = uniqueName("restart");
    {
      await using broker = await startBroker({ dataDir: dir });
      await using mb = await connect(broker.url);
      await mb.streams.create({ name, topics: [`${base}/#`] });
      assertConsecutive(await publishRange(mb, topic, 0, 2000), 0, "offsets before the restart");
    }
    await using broker = await startBroker({ dataDir: dir });
    await using mb = await connect(broker.url);
    const info = await mb.streams.info(name);
    assert.deepEqual(info.topics, [`${base}/#`], "the stream's configuration is kept");
    assert.equal(info.messages, 2000);
    assert.equal(info.firstOffset, 0);
    assert.equal(info.nextOffset, 2000);

    await using reader = await connect(broker.url);
    const iterator = reader.subscribe(`${base}/#`, { stream: name, from: 1000 })[
      Symbol.asyncIterator
    ]();
    let stop = false;
    const publisher = (async () => {
      // Offsets continue after the restart: no offset is given twice.
      for (let next = 2000; !stop; next += 100) {
        assertConsecutive(await publishRange(mb, topic, next, 100, 100), next, "offsets after");
      }
    })();
    let received;
    try {
      received = await take(iterator, 1500, 20_000, "offsets 1000..2499 after the restart");
    } finally {
      stop = true;
      await deadline(publisher, 10_000, "the publisher stopping");
    }
    assertConsecutive(received.map(offsetOf), 1000, "offsets read after the restart");
    for (const msg of received) assert.equal(msg.text(), `msg-${offsetOf(msg)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Payload of sequence number `seq`: the number, then bytes derived from it. */
function crashPayload(seq: number): string {
  return `${seq}:${String(seq * 7919).repeat(8)}`;
}

Deno.test("Stream loses no confirmed message when the server process is SIGKILLed mid-publish (--fsync always)", async () => {
  const dir = await tempDataDir();
  const args = ["--host", "127.0.0.1", "--port", "0", "--data", dir, "--fsync", "always"];
  try {
    const base = uniqueTopic("crash");
    const topic = `${base}/t`;
    const name = uniqueName("crash");
    const confirmed = new Map<number, number>();
    {
      await using server = await spawnServer(args);
      const mb = await connect(server.urls[0], { reconnect: false });
      try {
        await mb.streams.create({ name, topics: [`${base}/#`] });
        const KILL_AFTER = 2000;
        const WINDOW = 32;
        let seq = 0;
        let failed = false;
        const killed = Promise.withResolvers<void>();
        const lanes = Array.from({ length: WINDOW }, async () => {
          while (!failed && seq < 1_000_000) {
            const mine = seq++;
            try {
              const offset = await mb.publish(topic, crashPayload(mine), { confirm: true });
              assert.equal(typeof offset, "number", `publish ${mine} is stored`);
              confirmed.set(mine, offset as number);
              if (confirmed.size === KILL_AFTER) {
                server.child.kill("SIGKILL");
                killed.resolve();
              }
            } catch (error) {
              // Publishes in flight when the server dies fail; nothing else may.
              if (!(error instanceof MbError)) throw error;
              failed = true;
            }
          }
        });
        await deadline(killed.promise, 20_000, `${KILL_AFTER} confirmed publishes`);
        await deadline(Promise.all(lanes), 10_000, "publishes in flight failing after the kill");
        assert.ok(failed, "the kill interrupted publishes in flight");
        assert.ok(
          seq > confirmed.size,
          `publishes were in flight: ${seq} sent, ${confirmed.size} confirmed`,
        );
        await server.child.status;
      } finally {
        await mb.close().catch(() => {});
      }
    }

    await using server = await spawnServer(args);
    await using mb = await connect(server.urls[0]);
    const info = await mb.streams.info(name);
    assert.equal(info.firstOffset, 0);
    assert.ok(
      info.nextOffset >= confirmed.size,
      `after the crash the stream holds ${info.nextOffset} messages, ${confirmed.size} were confirmed`,
    );
    assert.equal(info.messages, info.nextOffset);
    const iterator = mb.subscribe(topic, { stream: name, from: "first" })[Symbol.asyncIterator]();
    const stored = await take(
      iterator,
      info.nextOffset,
      20_000,
      "the whole stream after the crash",
    );
    assertConsecutive(stored.map(offsetOf), 0, "offsets after the crash");
    const seen = new Set<number>();
    for (const msg of stored) {
      const offset = offsetOf(msg);
      const text = msg.text();
      const seq = Number(text.slice(0, text.indexOf(":")));
      assert.equal(text, crashPayload(seq), `payload at offset ${offset} is intact`);
      assert.ok(!seen.has(seq), `sequence ${seq} is stored once (again at offset ${offset})`);
      seen.add(seq);
      // One publisher on one connection: the stream holds them in the order sent.
      assert.equal(seq, offset, `offset ${offset} holds publish ${seq}`);
    }
    for (const [seq, offset] of confirmed) {
      assert.ok(seen.has(seq), `confirmed publish ${seq} (offset ${offset}) survives the crash`);
      assert.equal(offset, seq, `confirmed publish ${seq} got offset ${offset}`);
    }
    assert.equal(
      await mb.publish(topic, crashPayload(info.nextOffset), { confirm: true }),
      info.nextOffset,
      "the next publish continues after the recovered ones",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Queue state survives a restart: of 100 sent and 40 acked, the other 60 are delivered, the 40 never", async () => {
  const dir = await tempDataDir();
  try {
    const queue = uniqueName("durable");
    const sentIds: number[] = [];
    const ackedIds = new Set<number>();
    {
      await using broker = await startBroker({ dataDir: dir });
      await using mb = await connect(broker.url);
      await mb.queues.declare(queue);
      for (let i = 0; i < 100; i++) sentIds.push(await mb.queues.send(queue, `job-${i}`));
      // 50 delivered: 40 acked, 10 left in flight when the broker stops.
      const fetched: Awaited<ReturnType<typeof mb.queues.fetch>> = [];
      while (fetched.length < 50) {
        const batch = await mb.queues.fetch(queue, { max: 50 - fetched.length, waitMs: 1000 });
        assert.ok(batch.length > 0, "fetch returns the waiting jobs");
        fetched.push(...batch);
      }
      await Promise.all(fetched.slice(0, 40).map((job) => job.ack()));
      for (const job of fetched.slice(0, 40)) ackedIds.add(job.id);
      const info = await mb.queues.info(queue);
      assert.equal(info.messages, 60);
      assert.equal(info.inFlight, 10);
    }
    await using broker = await startBroker({ dataDir: dir });
    await using mb = await connect(broker.url);
    const info = await mb.queues.info(queue);
    assert.equal(info.messages, 60, "60 unsettled messages after the restart");
    const delivered = new Map<number, string>();
    while (delivered.size < 60) {
      const batch = await mb.queues.fetch(queue, { max: 100, waitMs: 1000 });
      assert.ok(batch.length > 0, `only ${delivered.size} of the 60 were delivered`);
      for (const job of batch) {
        assert.ok(!ackedIds.has(job.id), `acked id ${job.id} delivered again after the restart`);
        assert.ok(!delivered.has(job.id), `id ${job.id} delivered twice after the restart`);
        delivered.set(job.id, job.text());
      }
      await Promise.all(batch.map((job) => job.ack()));
    }
    assert.deepEqual(await mb.queues.fetch(queue, { max: 100, waitMs: 200 }), [], "nothing more");
    const expected = sentIds.filter((id) => !ackedIds.has(id));
    assert.deepEqual([...delivered.keys()].sort((a, b) => a - b), expected.sort((a, b) => a - b));
    for (const [id, text] of delivered) assert.equal(text, `job-${sentIds.indexOf(id)}`);
    assert.equal((await mb.queues.info(queue)).messages, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Stream recovers from a segment file cut mid-record: the records before the cut stay, offsets continue", async () => {
  const dir = await tempDataDir();
  try {
    const base = uniqueTopic("torn");
    const topic = `${base}/t`;
    const name = uniqueName("torn");
    {
      await using broker = await startBroker({ dataDir: dir });
      await using mb = await connect(broker.url);
      await mb.streams.create({ name, topics: [`${base}/#`] });
      assertConsecutive(await publishRange(mb, topic, 0, 100), 0, "offsets before the cut");
    }
    const logDir = `${dir}/streams/${name}/log`;
    const segments: { path: string; size: number }[] = [];
    for await (const entry of Deno.readDir(logDir)) {
      if (!entry.isFile || !/^\d{20}\.log$/.test(entry.name)) continue;
      const path = `${logDir}/${entry.name}`;
      segments.push({ path, size: (await Deno.stat(path)).size });
    }
    segments.sort((a, b) => a.path < b.path ? -1 : 1);
    const last = segments.findLast((s) => s.size > 0);
    assert.ok(last !== undefined, `a non-empty segment file in ${logDir}`);
    // The last record is 25 header bytes plus its body ("msg-99" and the topic): cut inside it.
    await Deno.truncate(last.path, last.size - 10);

    await using broker = await startBroker({ dataDir: dir });
    await using mb = await connect(broker.url);
    const info = await mb.streams.info(name);
    assert.equal(info.nextOffset, 99, "the torn record is dropped, the 99 before it kept");
    assert.equal(info.messages, 99);
    const iterator = mb.subscribe(topic, { stream: name, from: "first" })[Symbol.asyncIterator]();
    const kept = await take(iterator, 99, 5000, "the 99 records before the cut");
    assertConsecutive(kept.map(offsetOf), 0, "offsets before the cut");
    for (const msg of kept) assert.equal(msg.text(), `msg-${offsetOf(msg)}`);
    assert.equal(await mb.publish(topic, "after the cut", { confirm: true }), 99);
    const [next] = await take(iterator, 1, 5000, "the first record after the cut");
    assert.deepEqual([offsetOf(next), next.text()], [99, "after the cut"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
