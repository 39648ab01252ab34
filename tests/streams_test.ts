// Copyright mb authors. MIT license.
// Streams end to end: a stream captures the topics it names, confirmed
// publishes learn their offsets, readers replay from any start and carry on
// live without a gap or a duplicate, retention keeps the newest messages,
// and a reader that does not read holds no backlog in the broker. Every test
// but the slow reader runs twice: on disk and in memory (no data directory).

import assert from "node:assert/strict";
import { type Client, connect } from "../mod.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
} from "../protocol/mod.ts";
import type { BrokerOptions } from "../server/mod.ts";
import {
  deadline,
  eventually,
  startBroker,
  take,
  tempDataDir,
  uniqueName,
  uniqueTopic,
} from "./_helpers.ts";

type Mode = "disk" | "memory";
const MODES: readonly Mode[] = ["disk", "memory"];

/** A broker (on a fresh data directory, or in memory) and one client. */
interface Env extends AsyncDisposable {
  broker: Awaited<ReturnType<typeof startBroker>>;
  mb: Client;
  dir: string | undefined;
}

async function open(mode: Mode, options: BrokerOptions = {}): Promise<Env> {
  const dir = mode === "disk" ? await tempDataDir() : undefined;
  const broker = await startBroker({ dataDir: dir, ...options });
  const mb = await connect(broker.url);
  return {
    broker,
    mb,
    dir,
    async [Symbol.asyncDispose]() {
      await mb.close();
      await broker.stop();
      if (dir !== undefined) await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Publishes `text(i)` for i in [from, from + count) with confirmation, `chunk`
 * at a time in flight, and returns the offsets the confirmations carried.
 */
async function publishRange(
  mb: Client,
  topic: string,
  from: number,
  count: number,
  chunk = 500,
  text: (i: number) => string | Uint8Array = (i) => `msg-${i}`,
): Promise<(number | undefined)[]> {
  const offsets: (number | undefined)[] = [];
  for (let start = from; start < from + count; start += chunk) {
    const end = Math.min(start + chunk, from + count);
    const batch: Promise<number | undefined>[] = [];
    for (let i = start; i < end; i++) batch.push(mb.publish(topic, text(i), { confirm: true }));
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

/** The offset of a stream message (it must have one). */
function offsetOf(msg: { offset?: number }): number {
  assert.equal(typeof msg.offset, "number", "a stream message carries its offset");
  return msg.offset as number;
}

/**
 * A stream reader on a raw socket that, once subscribed, reads nothing more:
 * what the broker sends it stays in the broker (and the kernel's buffers).
 */
class RawReader implements AsyncDisposable {
  #conn: Deno.Conn;
  #frames: ReadableStreamDefaultReader<Frame>;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#frames = conn.readable.pipeThrough(new FrameDecoder({ maxFrameBytes: 1 << 24 }))
      .getReader();
  }

  static async open(url: string, stream: string, credit: number): Promise<RawReader> {
    const { hostname, port } = new URL(url);
    const raw = new RawReader(await Deno.connect({ hostname, port: Number(port) }));
    const writer = raw.#conn.writable.getWriter();
    await writer.write(
      encodeFrame({ type: FrameType.Hello, version: PROTOCOL_VERSION, hello: {} }),
    );
    assert.equal((await raw.#next())?.type, FrameType.Info);
    await writer.write(encodeFrame({
      type: FrameType.StreamSubscribe,
      requestId: 1,
      sid: 1,
      stream,
      pattern: "",
      start: { kind: "first" },
      credit,
    }));
    const ok = await raw.#next();
    assert.ok(ok?.type === FrameType.Ok && ok.requestId === 1, `subscribed: ${JSON.stringify(ok)}`);
    writer.releaseLock();
    return raw;
  }

  async #next(): Promise<Frame | undefined> {
    const result = await deadline(this.#frames.read(), 5000, "next frame from the broker");
    return result.done ? undefined : result.value;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* closed */ }
    await this.#frames.cancel().catch(() => {});
  }
}

for (const mode of MODES) {
  Deno.test(`Stream (${mode}) replays 5000..9999 from offset 5000, then live ones with no gap or duplicate`, async () => {
    await using env = await open(mode);
    const { broker, mb } = env;
    const base = uniqueTopic("replay");
    const topic = `${base}/orders`;
    const name = uniqueName("replay");
    await mb.streams.create({ name, topics: [`${base}/#`] });

    const before = Date.now();
    const offsets = await deadline(
      publishRange(mb, topic, 0, 10_000),
      20_000,
      "10,000 confirmed publishes",
    );
    // Confirmed publishes resolve with increasing offsets, from 0 in a new stream.
    assertConsecutive(offsets, 0, "offsets of the confirmed publishes");
    const info = await mb.streams.info(name);
    assert.equal(info.messages, 10_000);
    assert.equal(info.firstOffset, 0);
    assert.equal(info.nextOffset, 10_000);

    await using reader = await connect(broker.url);
    const sub = reader.subscribe(`${base}/#`, { stream: name, from: 5000 });
    const messages = sub[Symbol.asyncIterator]();
    // The publisher keeps publishing while the reader catches up.
    let stop = false;
    const publisher = (async () => {
      let next = 10_000;
      while (!stop) {
        const live = await publishRange(mb, topic, next, 100, 100);
        assertConsecutive(live, next, "offsets of the live publishes");
        next += 100;
      }
      return next;
    })();
    let received;
    try {
      received = await take(messages, 5_500, 20_000, "offsets 5000..10499 from the reader");
    } finally {
      stop = true;
      await deadline(publisher, 10_000, "the live publisher stopping");
    }
    const after = Date.now();
    assertConsecutive(received.map(offsetOf), 5000, "offsets the reader received");
    for (const msg of received) {
      const offset = offsetOf(msg);
      assert.equal(msg.text(), `msg-${offset}`, `payload at offset ${offset}`);
      assert.equal(msg.topic, topic);
      const timestamp = Number(msg.timestamp);
      assert.ok(
        timestamp >= before - 1 && timestamp <= after + 1,
        `timestamp ${timestamp} of offset ${offset} is between ${before} and ${after}`,
      );
    }
  });

  Deno.test(`Stream (${mode}) readers start at "first", "last", "new" (the default) or a time`, async () => {
    await using env = await open(mode);
    const { mb } = env;
    const base = uniqueTopic("starts");
    const topic = `${base}/t`;
    const name = uniqueName("starts");
    await mb.streams.create({ name, topics: [`${base}/#`] });

    assertConsecutive(await publishRange(mb, topic, 0, 5), 0, "first five offsets");
    // A time strictly after m0..m4 were stored and strictly before m5..m9 are.
    const stored = Date.now();
    await eventually(() => Date.now() > stored, 1000, "the clock passing the last store");
    const mid = new Date();
    await eventually(() => Date.now() > mid.getTime(), 1000, "the clock passing the start time");
    assertConsecutive(await publishRange(mb, topic, 5, 5), 5, "next five offsets");

    const first = mb.subscribe(topic, { stream: name, from: "first" })[Symbol.asyncIterator]();
    const last = mb.subscribe(topic, { stream: name, from: "last" })[Symbol.asyncIterator]();
    const fresh = mb.subscribe(topic, { stream: name, from: "new" })[Symbol.asyncIterator]();
    const byDefault = mb.subscribe(topic, { stream: name })[Symbol.asyncIterator]();
    const byTime = mb.subscribe(topic, { stream: name, from: mid })[Symbol.asyncIterator]();
    await mb.flush();
    assert.equal(await mb.publish(topic, "msg-10", { confirm: true }), 10);

    const texts = async (iterator: typeof first, count: number, what: string) =>
      (await take(iterator, count, 5000, what)).map((m) => `${offsetOf(m)}:${m.text()}`);
    const all = Array.from({ length: 11 }, (_, i) => `${i}:msg-${i}`);
    assert.deepEqual(await texts(first, 11, 'reader from "first"'), all);
    assert.deepEqual(await texts(last, 2, 'reader from "last"'), all.slice(9));
    assert.deepEqual(await texts(fresh, 1, 'reader from "new"'), all.slice(10));
    assert.deepEqual(await texts(byDefault, 1, "reader with no start"), all.slice(10));
    assert.deepEqual(await texts(byTime, 6, `reader from ${mid.toISOString()}`), all.slice(5));
  });

  Deno.test(`Stream (${mode}) reader with a pattern gets only the stream's matching topics, in order`, async () => {
    await using env = await open(mode);
    const { mb } = env;
    const base = uniqueTopic("filter");
    const name = uniqueName("filter");
    await mb.streams.create({ name, topics: [`${base}/#`] });
    const kinds = ["a", "b", "c"];
    const sent: Promise<number | undefined>[] = [];
    for (let i = 0; i < 30; i++) {
      sent.push(mb.publish(`${base}/${kinds[i % 3]}/${i}`, `m${i}`, { confirm: true }));
    }
    assertConsecutive(await Promise.all(sent), 0, "offsets of 30 publishes");
    // Not captured by any stream: confirmed without an offset.
    assert.equal(
      await mb.publish(`${uniqueTopic("elsewhere")}/x`, "x", { confirm: true }),
      undefined,
    );

    const iterator = mb.subscribe(`${base}/a/+`, { stream: name, from: "first" })[
      Symbol.asyncIterator
    ]();
    const got = await take(iterator, 10, 5000, "the ten a/ messages");
    assert.deepEqual(
      got.map((m) => [offsetOf(m), m.topic, m.text()]),
      Array.from({ length: 10 }, (_, k) => [3 * k, `${base}/a/${3 * k}`, `m${3 * k}`]),
    );
    // Nothing from b/ or c/ comes before the next a/ message.
    await mb.publish(`${base}/b/late`, "b-late", { confirm: true });
    await mb.publish(`${base}/a/late`, "a-late", { confirm: true });
    const [next] = await take(iterator, 1, 5000, "the late a/ message");
    assert.deepEqual([offsetOf(next), next.topic, next.text()], [31, `${base}/a/late`, "a-late"]);
  });

  Deno.test(`Stream (${mode}) with maxMsgs keeps the newest messages; readers from "first" start there`, async () => {
    await using env = await open(mode);
    const { mb } = env;
    const base = uniqueTopic("retain");
    const topic = `${base}/t`;
    const name = uniqueName("retain");
    const created = await mb.streams.create({ name, topics: [`${base}/#`], maxMsgs: 100 });
    assert.equal(created.maxMsgs, 100);
    assertConsecutive(await publishRange(mb, topic, 0, 1000, 250), 0, "offsets of 1000 publishes");

    const info = await mb.streams.info(name);
    assert.equal(info.nextOffset, 1000);
    assert.ok(info.messages <= 100, `info.messages ${info.messages} <= maxMsgs 100`);
    assert.equal(info.firstOffset, 900, "firstOffset is nextOffset - maxMsgs");
    const iterator = mb.subscribe(topic, { stream: name, from: "first" })[Symbol.asyncIterator]();
    const got = await take(iterator, 100, 5000, "the 100 retained messages");
    assertConsecutive(got.map(offsetOf), 900, "offsets read from first");
    assert.deepEqual(got.map((m) => m.text()), got.map((m) => `msg-${offsetOf(m)}`));
    // Then live, right after the retained ones.
    assert.equal(await mb.publish(topic, "msg-1000", { confirm: true }), 1000);
    const [live] = await take(iterator, 1, 5000, "the message after the retained ones");
    assert.equal(offsetOf(live), 1000);
  });

  Deno.test(`Stream (${mode}) admin: create, info, list, purge and delete`, async () => {
    await using env = await open(mode);
    const { broker, mb, dir } = env;
    const base = uniqueTopic("admin");
    const topic = `${base}/t`;
    const name = uniqueName("admin");
    const other = uniqueName("admin-other");

    const created = await mb.streams.create({ name, topics: [`${base}/#`] });
    assert.equal(created.name, name);
    assert.deepEqual(created.topics, [`${base}/#`]);
    assert.equal(created.messages, 0);
    assert.equal(created.bytes, 0);
    assert.equal(created.firstOffset, 0);
    assert.equal(created.nextOffset, 0);
    assert.equal(created.readers, 0);
    // The same configuration again is fine; another one under the same name is not.
    assert.equal((await mb.streams.create({ name, topics: [`${base}/#`] })).name, name);
    await assert.rejects(
      mb.streams.create({ name, topics: [`${base}/other/#`] }),
      { code: "ALREADY_EXISTS" },
    );
    await mb.streams.create({ name: other, topics: [`${uniqueTopic("admin")}/#`] });
    const listed = (await mb.streams.list()).map((s) => s.name);
    assert.ok(listed.includes(name) && listed.includes(other), `list ${listed}`);
    if (dir !== undefined) await Deno.stat(`${dir}/streams/${name}`);

    assertConsecutive(await publishRange(mb, topic, 0, 5), 0, "offsets of 5 publishes");
    await using reader = await connect(broker.url);
    const sub = reader.subscribe(topic, { stream: name, from: "first" });
    await take(sub[Symbol.asyncIterator](), 5, 5000, "the 5 messages");
    let info = await mb.streams.info(name);
    assert.equal(info.messages, 5);
    assert.ok(info.bytes > 0, `bytes ${info.bytes} > 0`);
    assert.equal(info.firstOffset, 0);
    assert.equal(info.nextOffset, 5);
    assert.equal(info.readers, 1);
    await sub.unsubscribe();
    await eventually(
      async () => (await mb.streams.info(name)).readers === 0,
      5000,
      "readers back to 0 after unsubscribe",
    );

    assert.equal(await mb.streams.purge(name), 5);
    info = await mb.streams.info(name);
    assert.equal(info.messages, 0);
    assert.equal(info.nextOffset, 5, "offsets continue after a purge");
    assert.equal(info.firstOffset, 5, "an empty stream's firstOffset is its nextOffset");
    assert.equal(await mb.publish(topic, "after purge", { confirm: true }), 5);
    const afterPurge = mb.subscribe(topic, { stream: name, from: "first" });
    const [again] = await take(
      afterPurge[Symbol.asyncIterator](),
      1,
      5000,
      "the message after the purge",
    );
    assert.deepEqual([offsetOf(again), again.text()], [5, "after purge"]);
    await afterPurge.unsubscribe();

    await mb.streams.delete(name);
    await assert.rejects(mb.streams.info(name), { code: "STREAM_UNKNOWN" });
    assert.ok(!(await mb.streams.list()).some((s) => s.name === name), "deleted stream not listed");
    assert.ok((await mb.streams.list()).some((s) => s.name === other), "other stream still listed");
    assert.equal(await mb.publish(topic, "nobody stores this", { confirm: true }), undefined);
    if (dir !== undefined) {
      await assert.rejects(Deno.stat(`${dir}/streams/${name}`), Deno.errors.NotFound);
    }
  });
}

Deno.test("Stream reader that does not read holds no backlog in the broker while 50,000 messages of 1 KiB are stored", async () => {
  await using env = await open("disk", { fsync: "never" });
  const { broker, mb } = env;
  const base = uniqueTopic("slow");
  const topic = `${base}/t`;
  const name = uniqueName("slow");
  await mb.streams.create({ name, topics: [`${base}/#`] });
  const COUNT = 50_000;
  const SIZE = 1024;
  const payload = (i: number) => {
    const bytes = new Uint8Array(SIZE).fill(0x2e);
    new TextEncoder().encodeInto(`${i}:`, bytes);
    return bytes;
  };

  await using reader = await connect(broker.url);
  const sub = reader.subscribe(topic, { stream: name, from: "first" });
  await reader.flush();
  // The client reads its socket even when the iterator is not read, so the
  // broker's side is checked with a raw reader whose socket nobody reads.
  await using _rawReader = await RawReader.open(broker.url, name, 1000);
  let maxPending = 0;
  const sample = () => {
    maxPending = Math.max(maxPending, broker.stats().pendingBytes);
  };
  const sampler = setInterval(sample, 5);
  try {
    for (let from = 0; from < COUNT; from += 1000) {
      const offsets = await deadline(
        publishRange(mb, topic, from, 1000, 1000, payload),
        20_000,
        `publishing ${from}..${from + 999}`,
      );
      assertConsecutive(offsets, from, "offsets of the 1 KiB publishes");
      sample();
    }
    // The reader keeps not reading for a while.
    let samples = 0;
    await eventually(() => (sample(), ++samples >= 20), 5000, "20 more samples");
  } finally {
    clearInterval(sampler);
  }
  assert.equal((await mb.streams.info(name)).messages, COUNT);
  const LIMIT = 4 * 1024 * 1024;
  assert.ok(
    maxPending <= LIMIT,
    `broker pendingBytes reached ${maxPending} (limit ${LIMIT}) for readers that do not read`,
  );
  // Nor did it all land in the client's memory.
  assert.ok(
    sub.received <= 16_384,
    `the client took ${sub.received} of ${COUNT} messages for an iterator nobody read`,
  );

  // Once it reads, it gets everything, in order, nothing dropped.
  const iterator = sub[Symbol.asyncIterator]();
  await deadline(
    (async () => {
      for (let i = 0; i < COUNT; i++) {
        const next = await iterator.next();
        assert.ok(!next.done, `the reader ended after ${i} messages`);
        const msg = next.value;
        if (offsetOf(msg) !== i) assert.fail(`offset ${offsetOf(msg)} where ${i} was expected`);
        if (msg.data.length !== SIZE || !msg.text().startsWith(`${i}:`)) {
          assert.fail(
            `payload at offset ${i} is ${msg.text().slice(0, 20)}… (${msg.data.length} B)`,
          );
        }
      }
    })(),
    30_000,
    "reading the 50,000 messages",
  );
});
