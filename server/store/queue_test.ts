// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import type { QueueConfig } from "../../protocol/durable.ts";
import { MbError } from "../../protocol/errors.ts";
import { AckAction } from "../../protocol/frames.ts";
import type { DurableLog } from "./durable_log.ts";
import { encodeDeliver, encodeSettle } from "./_queue_records.ts";
import { MemoryLog } from "./memory_log.ts";
import { Queue, type QueueOptions } from "./queue.ts";
import { SegmentLog } from "./segment_log.ts";
import type { DurableSink } from "./sink.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Kind = "memory" | "disk";
const KINDS: Kind[] = ["memory", "disk"];

interface Delivery {
  sid: number;
  id: number;
  count: number;
  text: string;
}

let nextSinkId = 1;

/** A connection that records what it is handed. */
class FakeSink implements DurableSink {
  readonly id: number = nextSinkId++;
  closed = false;
  readonly deliveries: Delivery[] = [];
  onDeliver: ((delivery: Delivery) => void) | undefined;
  #waiters: { n: number; resolve: () => void }[] = [];

  streamDeliver(): boolean {
    return true;
  }

  queueDeliver(sid: number, id: number, count: number, _timestamp: number, message: Uint8Array) {
    const delivery = { sid, id, count, text: decoder.decode(message) };
    this.deliveries.push(delivery);
    this.onDeliver?.(delivery);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.deliveries.length < waiter.n) return true;
      waiter.resolve();
      return false;
    });
  }

  onWritable(wake: () => void): void {
    wake();
  }

  /** Resolves once `n` deliveries arrived in all. */
  received(n: number, ms = 5_000): Promise<void> {
    if (this.deliveries.length >= n) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ n, resolve });
    return within(promise, ms, `${n} deliveries to sink ${this.id}`);
  }

  ids(): number[] {
    return this.deliveries.map((d) => d.id);
  }
}

/** `promise`, or a rejection naming `name` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${name}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function isMbError(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof MbError, `expected MbError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

/** Enqueues `text(i)` for i in [from, to) and waits until stored; returns the ids. */
async function fill(queue: Queue, from: number, to: number, text = (i: number) => `m-${i}`) {
  const ids: number[] = [];
  for (let i = from; i < to; i++) {
    queue.enqueue(bytes(text(i)), (error, id) => {
      assert.equal(error, undefined);
      ids.push(id);
    });
  }
  await queue.whenStored();
  return ids;
}

interface Logs {
  messages: DurableLog;
  state: DurableLog;
}

async function openLogs(kind: Kind, dir: string, segmentBytes?: number): Promise<Logs> {
  if (kind === "memory") return { messages: new MemoryLog(), state: new MemoryLog() };
  const options = { fsync: "never" as const, segmentBytes };
  return {
    messages: await SegmentLog.open(`${dir}/messages`, options),
    state: await SegmentLog.open(`${dir}/state`, options),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mb_queue_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with a queue over fresh logs of `kind`, closed afterwards. */
async function withQueue(
  kind: Kind,
  config: QueueConfig,
  fn: (queue: Queue, logs: Logs) => Promise<void>,
  options?: QueueOptions,
): Promise<void> {
  await withDir(async (dir) => {
    const logs = await openLogs(kind, dir);
    const queue = await Queue.open(config, logs.messages, logs.state, options);
    try {
      await fn(queue, logs);
    } finally {
      await queue.close();
    }
  });
}

/** Acks every delivery to `sink` as it comes; `done` resolves after `n` acks. */
function autoAck(queue: Queue, sink: FakeSink, n = Infinity) {
  const acked: number[] = [];
  const { promise, resolve, reject } = Promise.withResolvers<number[]>();
  sink.onDeliver = (delivery) => {
    queue.settle(sink, delivery.id, AckAction.Ack, 0).then(() => {
      acked.push(delivery.id);
      if (acked.length === n) resolve(acked);
    }, reject);
  };
  return { acked, done: promise };
}

for (const kind of KINDS) {
  Deno.test(`Queue shares 3,000 messages among 3 competing consumers (${kind}): none lost, none twice`, async () => {
    await withQueue(kind, { name: "jobs", ackWaitMs: 30_000, maxDeliver: 5 }, async (queue) => {
      const sinks = [new FakeSink(), new FakeSink(), new FakeSink()];
      const acked = new Set<number>();
      const all = Promise.withResolvers<void>();
      for (const sink of sinks) {
        sink.onDeliver = (delivery) => {
          queue.settle(sink, delivery.id, AckAction.Ack, 0).then(() => {
            assert.ok(!acked.has(delivery.id), `message ${delivery.id} acked twice`);
            acked.add(delivery.id);
            if (acked.size === 3000) all.resolve();
          }, all.reject);
        };
        queue.consume(sink, 1, 10);
      }
      const ids = await fill(queue, 0, 3000);
      await within(all.promise, 20_000, "3,000 acks");
      const delivered = sinks.flatMap((sink) => sink.deliveries);
      assert.equal(delivered.length, 3000);
      assert.deepEqual(new Set(delivered.map((d) => d.id)), new Set(ids));
      assert.deepEqual(
        new Set(delivered.map((d) => d.text)),
        new Set(Array.from({ length: 3000 }, (_, i) => `m-${i}`)),
      );
      assert.ok(delivered.every((d) => d.count === 1 && d.sid === 1));
      for (const sink of sinks) {
        assert.ok(sink.deliveries.length >= 900, `sink got ${sink.deliveries.length} of 3,000`);
      }
      await queue.whenStored();
      const info = queue.info();
      assert.equal(info.messages, 0);
      assert.equal(info.inFlight, 0);
      assert.equal(info.consumers, 3);
    });
  });
}

Deno.test("Queue consume holds at most prefetch unacked messages per consumer", async () => {
  await withQueue("memory", { name: "jobs" }, async (queue) => {
    const small = new FakeSink();
    const large = new FakeSink();
    queue.consume(small, 1, 2);
    queue.consume(large, 2, 5);
    await fill(queue, 0, 20);
    await small.received(2);
    await large.received(5);
    assert.equal(small.deliveries.length, 2);
    assert.equal(large.deliveries.length, 5);
    assert.equal(queue.info().inFlight, 7);
    await queue.settle(small, small.deliveries[0].id, AckAction.Ack, 0);
    await small.received(3);
    assert.equal(small.deliveries.length, 3);
    assert.equal(large.deliveries.length, 5);
    assert.throws(() => queue.consume(small, 3, 0), isMbError("INVALID_ARGUMENT"));
    assert.throws(() => queue.consume(small, 3, 1.5), isMbError("INVALID_ARGUMENT"));
    assert.throws(() => queue.consume(small, -1, 1), isMbError("INVALID_ARGUMENT"));
  });
});

Deno.test("Queue detach redelivers a connection's in-flight messages to others with deliveryCount 2", async () => {
  await withQueue("disk", { name: "jobs" }, async (queue) => {
    const gone = new FakeSink();
    queue.consume(gone, 1, 10);
    await fill(queue, 0, 15);
    await gone.received(10);
    const other = new FakeSink();
    const { done } = autoAck(queue, other, 15);
    queue.consume(other, 4, 3);
    await other.received(5); // the 5 never delivered
    gone.closed = true;
    queue.detach(gone);
    await within(done, 5_000, "15 acks");
    const redelivered = other.deliveries.filter((d) => d.count === 2);
    assert.deepEqual(redelivered.map((d) => d.id).sort((a, b) => a - b), gone.ids());
    assert.ok(other.deliveries.every((d) => d.sid === 4));
    assert.equal(gone.deliveries.length, 10);
    await assert.rejects(
      queue.settle(gone, gone.deliveries[0].id, AckAction.Ack, 0),
      isMbError("MESSAGE_UNKNOWN"),
    );
    assert.equal(queue.info().messages, 0);
  });
});

Deno.test("QueueConsumer close makes its unacked messages ready again at once", async () => {
  await withQueue("memory", { name: "jobs" }, async (queue) => {
    const first = new FakeSink();
    const consumer = queue.consume(first, 1, 5);
    await fill(queue, 0, 5);
    await first.received(5);
    const second = new FakeSink();
    queue.consume(second, 2, 10);
    consumer.close();
    consumer.close();
    await second.received(5);
    assert.deepEqual(second.ids(), first.ids());
    assert.ok(second.deliveries.every((d) => d.count === 2));
    assert.equal(queue.info().consumers, 1);
  });
});

Deno.test("Queue redelivers a message not acked within ackWaitMs, and the first holder can no longer ack it", async () => {
  await withQueue("memory", { name: "jobs", ackWaitMs: 100 }, async (queue) => {
    const slow = new FakeSink();
    queue.consume(slow, 1, 1);
    await fill(queue, 0, 1);
    await slow.received(1);
    const started = performance.now();
    const other = new FakeSink();
    queue.consume(other, 2, 1);
    await other.received(1);
    assert.ok(performance.now() - started >= 80, "redelivered before ackWaitMs");
    assert.deepEqual(other.deliveries[0], { sid: 2, id: 0, count: 2, text: "m-0" });
    await assert.rejects(queue.settle(slow, 0, AckAction.Ack, 0), isMbError("MESSAGE_UNKNOWN"));
    await queue.settle(other, 0, AckAction.Ack, 0);
    assert.equal(queue.info().messages, 0);
    assert.equal(slow.deliveries.length, 1);
  });
});

Deno.test("Queue nack makes a message ready again after delayMs, or at once", async () => {
  await withQueue("memory", { name: "jobs" }, async (queue) => {
    const sink = new FakeSink();
    await fill(queue, 0, 1);
    assert.equal(await queue.fetch(sink, 1, 1, 1_000), 1);
    await queue.settle(sink, 0, AckAction.Nack, 150);
    const started = performance.now();
    assert.equal(await queue.fetch(sink, 1, 1, 0), 0, "delivered during its delay");
    assert.equal(await queue.fetch(sink, 1, 1, 5_000), 1);
    assert.ok(performance.now() - started >= 140, "redelivered before delayMs");
    assert.deepEqual(sink.deliveries[1], { sid: 1, id: 0, count: 2, text: "m-0" });
    await queue.settle(sink, 0, AckAction.Nack, 0);
    assert.equal(await queue.fetch(sink, 1, 1, 0), 1);
    assert.equal(sink.deliveries[2].count, 3);
    await assert.rejects(queue.settle(sink, 0, AckAction.Nack, -1), isMbError("INVALID_ARGUMENT"));
  });
});

Deno.test("Queue moves a message nacked maxDeliver times into the dead-letter queue unchanged", async () => {
  await withDir(async (dir) => {
    const queues = new Map<string, Queue>();
    const options = { resolveQueue: (name: string) => queues.get(name) };
    const dlqLogs = await openLogs("disk", `${dir}/dlq`);
    const dlq = await Queue.open({ name: "dlq" }, dlqLogs.messages, dlqLogs.state, options);
    queues.set("dlq", dlq);
    const logs = await openLogs("disk", `${dir}/jobs`);
    const config = { name: "jobs", maxDeliver: 2, deadLetter: "dlq" };
    const queue = await Queue.open(config, logs.messages, logs.state, options);
    try {
      const sink = new FakeSink();
      await fill(queue, 0, 1, () => "poison");
      for (let i = 0; i < 2; i++) {
        assert.equal(await queue.fetch(sink, 1, 1, 1_000), 1);
        await queue.settle(sink, 0, AckAction.Nack, 0);
      }
      assert.deepEqual(sink.deliveries.map((d) => d.count), [1, 2]);
      assert.equal(queue.info().deadLettered, 1);
      assert.equal(queue.info().messages, 0);
      assert.equal(dlq.info().messages, 1);
      const reader = new FakeSink();
      assert.equal(await dlq.fetch(reader, 9, 10, 1_000), 1);
      assert.deepEqual(reader.deliveries[0], { sid: 9, id: 0, count: 1, text: "poison" });
      assert.equal(await queue.fetch(sink, 1, 1, 0), 0);
    } finally {
      await queue.close();
      await dlq.close();
    }
  });
});

Deno.test("Queue dead-letters a message whose last delivery passes ackWaitMs", async () => {
  const queues = new Map<string, Queue>();
  const options = { resolveQueue: (name: string) => queues.get(name) };
  await withQueue("memory", { name: "dlq" }, async (dlq) => {
    queues.set("dlq", dlq);
    const config = { name: "jobs", ackWaitMs: 50, maxDeliver: 1, deadLetter: "dlq" };
    await withQueue("memory", config, async (queue) => {
      const reader = new FakeSink();
      const waiting = dlq.fetch(reader, 1, 1, 5_000);
      const sink = new FakeSink();
      queue.consume(sink, 1, 1);
      await fill(queue, 0, 1, () => "late");
      assert.equal(await waiting, 1);
      assert.equal(reader.deliveries[0].text, "late");
      assert.equal(sink.deliveries.length, 1);
      assert.equal(queue.info().deadLettered, 1);
    }, options);
  }, options);
});

Deno.test("Queue drops a message after maxDeliver when there is no dead-letter queue", async () => {
  for (
    const config of [{ name: "a", maxDeliver: 1 }, {
      name: "b",
      maxDeliver: 1,
      deadLetter: "nowhere",
    }]
  ) {
    await withQueue("memory", config, async (queue) => {
      const sink = new FakeSink();
      await fill(queue, 0, 2);
      assert.equal(await queue.fetch(sink, 1, 1, 1_000), 1);
      await queue.settle(sink, 0, AckAction.Nack, 0);
      assert.equal(queue.info().deadLettered, 1);
      assert.equal(queue.info().messages, 1);
      assert.equal(await queue.fetch(sink, 1, 5, 0), 1);
      assert.deepEqual(sink.ids(), [0, 1]);
    }, { resolveQueue: () => undefined });
  }
});

Deno.test("Queue settle of an unknown, acked or foreign message is refused with MESSAGE_UNKNOWN", async () => {
  await withQueue("memory", { name: "jobs" }, async (queue) => {
    const sink = new FakeSink();
    const stranger = new FakeSink();
    await fill(queue, 0, 2);
    assert.equal(await queue.fetch(sink, 1, 2, 1_000), 2);
    await assert.rejects(queue.settle(sink, 99, AckAction.Ack, 0), isMbError("MESSAGE_UNKNOWN"));
    await assert.rejects(queue.settle(stranger, 0, AckAction.Ack, 0), isMbError("MESSAGE_UNKNOWN"));
    await queue.settle(sink, 0, AckAction.Ack, 0);
    await assert.rejects(queue.settle(sink, 0, AckAction.Ack, 0), isMbError("MESSAGE_UNKNOWN"));
    await assert.rejects(queue.settle(sink, 0, AckAction.Nack, 0), isMbError("MESSAGE_UNKNOWN"));
    await assert.rejects(
      queue.settle(sink, 1, 7 as AckAction, 0),
      isMbError("INVALID_ARGUMENT"),
    );
    await assert.rejects(queue.settle(sink, -1, AckAction.Ack, 0), isMbError("INVALID_ARGUMENT"));
    await queue.settle(sink, 1, AckAction.Ack, 0);
    assert.equal(queue.info().messages, 0);
  });
});

Deno.test("Queue fetch long-polls: returns when a message arrives, 0 after waitMs, at most max", async () => {
  await withQueue("disk", { name: "jobs" }, async (queue) => {
    const sink = new FakeSink();
    let started = performance.now();
    const waiting = queue.fetch(sink, 1, 10, 5_000);
    setTimeout(() => queue.enqueue(bytes("late")), 20);
    assert.equal(await waiting, 1);
    assert.ok(performance.now() - started < 2_000, "fetch did not return on arrival");
    assert.equal(sink.deliveries[0].text, "late");

    started = performance.now();
    assert.equal(await queue.fetch(sink, 2, 10, 100), 0);
    assert.ok(performance.now() - started >= 90, "empty fetch returned before waitMs");
    assert.equal(await queue.fetch(sink, 2, 10, 0), 0);

    await fill(queue, 0, 10);
    assert.equal(await queue.fetch(sink, 3, 3, 1_000), 3);
    assert.deepEqual(sink.deliveries.slice(1).map((d) => d.sid), [3, 3, 3]);
    assert.equal(queue.info().inFlight, 4);
    assert.equal(await queue.fetch(sink, 4, 100, 1_000), 7);
    assert.equal(queue.info().consumers, 0);

    await assert.rejects(queue.fetch(sink, 5, 0, 0), isMbError("INVALID_ARGUMENT"));
    await assert.rejects(queue.fetch(sink, 5, 1, -5), isMbError("INVALID_ARGUMENT"));
  });
});

Deno.test("Queue fetch takes turns with push consumers", async () => {
  await withQueue("memory", { name: "jobs" }, async (queue) => {
    const pusher = new FakeSink();
    queue.consume(pusher, 1, 100);
    const puller = new FakeSink();
    const pulled = queue.fetch(puller, 2, 5, 5_000);
    assert.equal(queue.info().consumers, 2);
    await fill(queue, 0, 12);
    assert.equal(await pulled, 5);
    assert.deepEqual(puller.ids(), [1, 3, 5, 7, 9]);
    assert.deepEqual(pusher.ids(), [0, 2, 4, 6, 8, 10, 11]);
    assert.equal(queue.info().consumers, 1);
    assert.equal(queue.info().inFlight, 12);
  });
});

Deno.test("Queue fetch resolves at once when its connection is detached or the queue closes", async () => {
  const logs = { messages: new MemoryLog(), state: new MemoryLog() };
  const queue = await Queue.open({ name: "jobs" }, logs.messages, logs.state);
  const sink = new FakeSink();
  const waiting = queue.fetch(sink, 1, 1, 60_000);
  assert.equal(queue.info().consumers, 1);
  sink.closed = true;
  queue.detach(sink);
  assert.equal(await within(waiting, 1_000, "fetch after detach"), 0);
  assert.equal(await queue.fetch(sink, 1, 1, 60_000), 0, "a closed sink waits for nothing");
  const other = new FakeSink();
  const pending = queue.fetch(other, 1, 1, 60_000);
  await queue.close();
  assert.equal(await within(pending, 1_000, "fetch after close"), 0);
});

Deno.test("Queue reopened on the same logs forgets acked messages and redelivers the rest with their counts", async () => {
  await withDir(async (dir) => {
    const open = async () => {
      const logs = await openLogs("disk", dir);
      return await Queue.open({ name: "jobs" }, logs.messages, logs.state);
    };
    let queue = await open();
    const sink = new FakeSink();
    await fill(queue, 0, 10);
    assert.equal(await queue.fetch(sink, 1, 10, 1_000), 10);
    for (const id of [0, 1, 2, 3, 4, 7]) await queue.settle(sink, id, AckAction.Ack, 0);
    await queue.close();

    queue = await open();
    assert.equal(queue.info().messages, 4);
    const again = new FakeSink();
    assert.equal(await queue.fetch(again, 1, 10, 1_000), 4);
    assert.deepEqual(again.ids(), [5, 6, 8, 9]);
    assert.ok(again.deliveries.every((d) => d.count === 2));
    assert.deepEqual(again.deliveries.map((d) => d.text), ["m-5", "m-6", "m-8", "m-9"]);
    await queue.settle(again, 6, AckAction.Ack, 0);
    assert.deepEqual(await fill(queue, 10, 12), [10, 11]);
    await queue.close();

    queue = await open();
    const third = new FakeSink();
    assert.equal(await queue.fetch(third, 1, 10, 1_000), 5);
    assert.deepEqual(
      third.deliveries.map((d) => [d.id, d.count]),
      [[5, 3], [8, 3], [9, 3], [10, 1], [11, 1]],
    );
    await queue.close();
  });
});

Deno.test("Queue reopened on a state log that names messages its log lost does not mistake new messages for them", async () => {
  await withDir(async (dir) => {
    let logs = await openLogs("disk", dir);
    await logs.messages.append([bytes("a"), bytes("b"), bytes("c")]);
    // The state log saw five deliveries, but the messages log kept three.
    for (let id = 0; id < 5; id++) await logs.state.append([encodeDeliver(id)]);
    await logs.state.append([encodeSettle(0)]);
    let queue = await Queue.open({ name: "jobs" }, logs.messages, logs.state);
    const sink = new FakeSink();
    assert.equal(queue.info().messages, 2);
    assert.equal(await queue.fetch(sink, 1, 10, 1_000), 2);
    assert.deepEqual(sink.deliveries.map((d) => [d.id, d.count]), [[1, 2], [2, 2]]);
    assert.deepEqual(await fill(queue, 3, 4), [3]);
    await queue.close();

    logs = await openLogs("disk", dir);
    queue = await Queue.open({ name: "jobs" }, logs.messages, logs.state);
    const again = new FakeSink();
    assert.equal(await queue.fetch(again, 1, 10, 1_000), 3);
    assert.deepEqual(again.deliveries.map((d) => [d.id, d.count]), [[1, 3], [2, 3], [3, 1]]);
    await queue.close();
  });
});

Deno.test("Queue reopened dead-letters a message that was delivered maxDeliver times before", async () => {
  await withDir(async (dir) => {
    const queues = new Map<string, Queue>();
    const options = { resolveQueue: (name: string) => queues.get(name) };
    const dlq = await Queue.open({ name: "dlq" }, new MemoryLog(), new MemoryLog());
    queues.set("dlq", dlq);
    const config = { name: "jobs", maxDeliver: 1, deadLetter: "dlq" };
    let logs = await openLogs("disk", dir);
    let queue = await Queue.open(config, logs.messages, logs.state, options);
    await fill(queue, 0, 2);
    assert.equal(await queue.fetch(new FakeSink(), 1, 1, 1_000), 1);
    await queue.close();
    logs = await openLogs("disk", dir);
    queue = await Queue.open(config, logs.messages, logs.state, options);
    const sink = new FakeSink();
    assert.equal(await queue.fetch(sink, 1, 5, 1_000), 1);
    assert.deepEqual(sink.ids(), [1]);
    await dlq.whenStored();
    await queue.whenStored();
    assert.equal(queue.info().deadLettered, 1);
    assert.equal(dlq.info().messages, 1);
    await queue.close();
    await dlq.close();
  });
});

for (const kind of KINDS) {
  Deno.test(`Queue keeps its state log small across 100k acks and recovers right (${kind})`, async () => {
    await withDir(async (dir) => {
      const logs = await openLogs(kind, dir, 64 * 1024);
      let queue = await Queue.open({ name: "jobs" }, logs.messages, logs.state);
      const keep = new Set([50_000, 77_777, 99_999]);
      const total = 100_000;
      const sink = new FakeSink();
      let acked = 0;
      let maxStateBytes = 0;
      const all = Promise.withResolvers<void>();
      sink.onDeliver = (delivery) => {
        if (keep.has(delivery.id)) return;
        queue.settle(sink, delivery.id, AckAction.Ack, 0).then(() => {
          maxStateBytes = Math.max(maxStateBytes, logs.state.byteSize);
          if (++acked === total - keep.size) all.resolve();
        }, all.reject);
      };
      queue.consume(sink, 1, 1000);
      for (let start = 0; start < total; start += 10_000) await fill(queue, start, start + 10_000);
      await within(all.promise, 60_000, "100k acks");
      await queue.whenStored();
      assert.equal(queue.info().messages, keep.size);
      assert.ok(maxStateBytes < 3 * 1024 * 1024, `state log reached ${maxStateBytes} bytes`);
      assert.ok(logs.state.recordCount < 100_000, `state log holds ${logs.state.recordCount}`);
      assert.ok(
        logs.messages.firstOffset > 40_000,
        `messages log starts at ${logs.messages.firstOffset}`,
      );
      if (kind === "memory") return await queue.close();
      await queue.close();

      const reopened = await openLogs(kind, dir, 64 * 1024);
      queue = await Queue.open({ name: "jobs" }, reopened.messages, reopened.state);
      try {
        assert.equal(queue.info().messages, keep.size);
        const again = new FakeSink();
        assert.equal(await queue.fetch(again, 1, 10, 1_000), keep.size);
        assert.deepEqual(again.ids(), [...keep]);
        assert.ok(again.deliveries.every((d) => d.count === 2));
      } finally {
        await queue.close();
      }
    });
  });
}

for (const kind of KINDS) {
  Deno.test(`Queue refuses an enqueue past maxBytes with STORAGE_FULL while earlier messages stay deliverable (${kind})`, async () => {
    await withQueue(kind, { name: "jobs", maxBytes: 100 }, async (queue) => {
      const results: (string | number)[] = [];
      for (let i = 0; i < 4; i++) {
        queue.enqueue(new Uint8Array(30).fill(i), (error, id) => results.push(error?.code ?? id));
      }
      await queue.whenStored();
      assert.deepEqual(results.sort(), [0, 1, 2, "STORAGE_FULL"]);
      const sink = new FakeSink();
      assert.equal(await queue.fetch(sink, 1, 10, 1_000), 3);
      await queue.settle(sink, 0, AckAction.Ack, 0);
      assert.deepEqual(await fill(queue, 0, 1, () => "x".repeat(30)), [3]);
      assert.equal(queue.info().messages, 3);
    });
  });
}

Deno.test("Queue reports a full disk quota to the sender and keeps serving what it stored", async () => {
  await withDir(async (dir) => {
    const messages = await SegmentLog.open(`${dir}/messages`, {
      fsync: "never",
      maxBytesOnDisk: 200,
    });
    const state = await SegmentLog.open(`${dir}/state`, { fsync: "never" });
    const queue = await Queue.open({ name: "jobs" }, messages, state);
    try {
      const errors: string[] = [];
      for (let i = 0; i < 5; i++) {
        queue.enqueue(new Uint8Array(40), (error) => error && errors.push(error.code));
        await queue.whenStored();
      }
      assert.ok(errors.length > 0 && errors.every((code) => code === "STORAGE_FULL"));
      const stored = 5 - errors.length;
      const sink = new FakeSink();
      assert.equal(await queue.fetch(sink, 1, 10, 1_000), stored);
      assert.equal(queue.info().messages, stored);
    } finally {
      await queue.close();
    }
  });
});

/** A memory log whose appends fail while `failing` is set. */
class FlakyLog extends MemoryLog {
  failing = false;
  override append(bodies: Uint8Array[], timestamp?: number) {
    if (this.failing) return Promise.reject(new MbError("STORAGE_FAILED", "Disk on fire"));
    return super.append(bodies, timestamp);
  }
}

Deno.test("Queue rejects an ack whose record cannot be stored and keeps serving", async () => {
  const state = new FlakyLog();
  const messages = new FlakyLog();
  const queue = await Queue.open({ name: "jobs" }, messages, state);
  try {
    const sink = new FakeSink();
    await fill(queue, 0, 2);
    assert.equal(await queue.fetch(sink, 1, 1, 1_000), 1);
    state.failing = true;
    await assert.rejects(queue.settle(sink, 0, AckAction.Ack, 0), isMbError("STORAGE_FAILED"));
    state.failing = false;
    messages.failing = true;
    const refused = Promise.withResolvers<MbError | undefined>();
    queue.enqueue(bytes("lost"), (error) => refused.resolve(error));
    assert.equal((await refused.promise)?.code, "STORAGE_FAILED");
    messages.failing = false;
    assert.equal(await queue.fetch(sink, 1, 5, 1_000), 1);
    await queue.settle(sink, 1, AckAction.Ack, 0);
    assert.deepEqual(await fill(queue, 2, 3), [2]);
    assert.equal(await queue.fetch(sink, 1, 5, 1_000), 1);
  } finally {
    await queue.close();
  }
});

for (const kind of KINDS) {
  Deno.test(`Queue purge drops every waiting message and keeps those in flight (${kind})`, async () => {
    await withDir(async (dir) => {
      let logs = await openLogs(kind, dir);
      let queue = await Queue.open({ name: "jobs" }, logs.messages, logs.state);
      const sink = new FakeSink();
      await fill(queue, 0, 10);
      assert.equal(await queue.fetch(sink, 1, 3, 1_000), 3);
      await queue.settle(sink, 2, AckAction.Nack, 60_000);
      assert.equal(await queue.purge(), 8);
      assert.equal(queue.info().messages, 2);
      assert.equal(queue.info().inFlight, 2);
      assert.equal(await queue.fetch(sink, 1, 10, 0), 0);
      await queue.settle(sink, 0, AckAction.Ack, 0);
      assert.deepEqual(await fill(queue, 10, 11), [10]);
      assert.equal(await queue.purge(), 1);
      await queue.close();
      if (kind === "memory") return;

      logs = await openLogs(kind, dir);
      queue = await Queue.open({ name: "jobs" }, logs.messages, logs.state);
      const again = new FakeSink();
      assert.equal(await queue.fetch(again, 1, 10, 1_000), 1);
      assert.deepEqual(again.deliveries.map((d) => [d.id, d.count]), [[1, 2]]);
      await queue.close();
    });
  });
}

Deno.test("Queue enqueue refuses what is not bytes", async () => {
  await withQueue("memory", { name: "jobs" }, async (queue) => {
    assert.throws(
      () => queue.enqueue("text" as unknown as Uint8Array),
      isMbError("INVALID_ARGUMENT"),
    );
    await queue.whenStored();
    assert.equal(queue.info().messages, 0);
    assert.deepEqual(queue.config, { name: "jobs" });
  });
});
