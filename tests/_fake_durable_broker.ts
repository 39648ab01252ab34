// Copyright mb authors. MIT license.
// A fake broker that speaks the durable frames (0x10-0x18) over a real
// loopback socket, with an in-memory stream store and queue store: enough to
// test the client's stream and queue APIs and the CLI before (and apart
// from) the real broker.

import { MbError } from "../mod.ts";
import { writeU64 } from "../protocol/_bytes.ts";
import { encodeStoredResult } from "../protocol/durable.ts";
import {
  AckAction,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  matchTopic,
  PROTOCOL_VERSION,
  type StreamConfig,
} from "../protocol/mod.ts";

const encoder = new TextEncoder();

interface Stored {
  topic: string;
  payload: Uint8Array;
  timestamp: number;
}

interface Reader {
  sid: number;
  stream: string;
  pattern: string;
  next: number;
  credit: number;
}

interface QueueMessage {
  id: number;
  topic: string;
  payload: Uint8Array;
  deliveries: number;
  inFlight: boolean;
}

interface Consumer {
  sid: number;
  queue: string;
  prefetch: number;
  held: Set<number>;
}

interface FakeConnection {
  conn: Deno.Conn;
  send(frame: Frame): void;
  readers: Map<number, Reader>;
  consumers: Map<number, Consumer>;
}

/**
 * Starts a fake broker on a free port. Every frame a client sends is
 * recorded in `received`. Without `store`, its info says it has no store
 * (and it serves nothing durable).
 */
export function fakeDurableBroker(options: { store?: "memory" } = { store: "memory" }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: Frame[] = [];
  const connections: FakeConnection[] = [];
  const streams = new Map<string, { config: StreamConfig; messages: Stored[] }>();
  const queues = new Map<string, { messages: QueueMessage[]; nextId: number }>();
  const waitingFetches: { queue: string; deliver(): void }[] = [];
  const handlers: Promise<void>[] = [];
  const info = encodeFrame({
    type: FrameType.Info,
    version: PROTOCOL_VERSION,
    info: {
      serverId: "fake",
      serverVersion: "0",
      clientId: 1,
      maxPayloadBytes: 1024 * 1024,
      maxFrameBytes: 2 * 1024 * 1024,
      maxSubscriptions: 100,
      pingIntervalMs: 30000,
      store: options.store,
    },
  });

  function pump(c: FakeConnection, reader: Reader): void {
    const messages = streams.get(reader.stream)?.messages ?? [];
    while (reader.credit > 0 && reader.next < messages.length) {
      const offset = reader.next++;
      const m = messages[offset];
      if (reader.pattern !== "" && !matchTopic(reader.pattern, m.topic)) continue;
      reader.credit--;
      c.send({
        type: FrameType.StreamDeliver,
        sid: reader.sid,
        offset,
        timestamp: m.timestamp,
        topic: m.topic,
        replyTo: "",
        headers: undefined,
        payload: m.payload,
      });
    }
  }

  function pumpAll(): void {
    for (const c of connections) {
      for (const reader of c.readers.values()) pump(c, reader);
      for (const consumer of c.consumers.values()) offer(c, consumer);
    }
    for (const fetch of waitingFetches.splice(0)) fetch.deliver();
  }

  function deliverJob(c: FakeConnection, sid: number, queue: string, m: QueueMessage): void {
    m.inFlight = true;
    m.deliveries++;
    c.send({
      type: FrameType.QueueDeliver,
      sid,
      messageId: m.id,
      deliveryCount: m.deliveries,
      timestamp: 1700000000000 + m.id,
      topic: m.topic,
      replyTo: "",
      headers: undefined,
      payload: m.payload,
    });
    void queue;
  }

  function offer(c: FakeConnection, consumer: Consumer): void {
    const queue = queues.get(consumer.queue);
    if (queue === undefined) return;
    for (const m of queue.messages) {
      if (consumer.held.size >= consumer.prefetch) return;
      if (m.inFlight) continue;
      consumer.held.add(m.id);
      deliverJob(c, consumer.sid, consumer.queue, m);
    }
  }

  function command(op: string, args: Record<string, unknown>): unknown {
    const name = args.name as string;
    const [kind, verb] = op.split(".");
    if (kind === "stream") {
      const stream = streams.get(name);
      const describe = (s: { config: StreamConfig; messages: Stored[] }) => ({
        ...s.config,
        messages: s.messages.length,
        bytes: 0,
        firstOffset: 0,
        nextOffset: s.messages.length,
        readers: 0,
      });
      if (verb === "create") {
        if (stream !== undefined) throw new MbError("ALREADY_EXISTS", `Stream "${name}" exists`);
        const created = { config: args as unknown as StreamConfig, messages: [] };
        streams.set(name, created);
        return describe(created);
      }
      if (verb === "list") return [...streams.values()].map(describe);
      if (stream === undefined) throw new MbError("STREAM_UNKNOWN", `No stream "${name}"`);
      if (verb === "info") return describe(stream);
      if (verb === "delete") {
        streams.delete(name);
        return { deleted: true };
      }
      if (verb === "purge") {
        const purged = stream.messages.length;
        return { purged };
      }
    } else {
      const queue = queues.get(name);
      const describe = (n: string, q: { messages: QueueMessage[] }) => ({
        name: n,
        messages: q.messages.length,
        inFlight: q.messages.filter((m) => m.inFlight).length,
        consumers: 0,
        deadLettered: 0,
      });
      if (verb === "declare") {
        const declared = queue ?? { messages: [], nextId: 1 };
        queues.set(name, declared);
        return { ...args, ...describe(name, declared) };
      }
      if (verb === "list") return [...queues].map(([n, q]) => describe(n, q));
      if (queue === undefined) throw new MbError("QUEUE_UNKNOWN", `No queue "${name}"`);
      if (verb === "info") return describe(name, queue);
      if (verb === "delete") {
        queues.delete(name);
        return { deleted: true };
      }
      if (verb === "purge") {
        const purged = queue.messages.length;
        queue.messages = [];
        return { purged };
      }
    }
    throw new MbError("INVALID_ARGUMENT", `Unknown op ${op}`);
  }

  function handle(c: FakeConnection, frame: Frame): void {
    const ok = (requestId: number, result: Uint8Array = new Uint8Array(0)) =>
      c.send({ type: FrameType.Ok, requestId, result });
    const fail = (requestId: number, error: unknown) => {
      const e = error as MbError;
      c.send({ type: FrameType.Error, requestId, code: e.code, message: e.message });
    };
    switch (frame.type) {
      case FrameType.Ping:
        c.send({ type: FrameType.Pong });
        return;
      case FrameType.Publish: {
        const now = Date.now();
        let result: Uint8Array = new Uint8Array(0);
        for (const [name, stream] of streams) {
          if (stream.config.topics.some((p) => matchTopic(p, frame.topic))) {
            stream.messages.push({ topic: frame.topic, payload: frame.payload, timestamp: now });
            result = encodeStoredResult(stream.messages.length - 1, name);
          }
        }
        if (frame.requestId !== 0) ok(frame.requestId, result);
        pumpAll();
        return;
      }
      case FrameType.Command:
        try {
          const result = command(frame.op, frame.args as Record<string, unknown>);
          ok(frame.requestId, encoder.encode(JSON.stringify(result)));
        } catch (error) {
          fail(frame.requestId, error);
        }
        return;
      case FrameType.StreamSubscribe: {
        const stream = streams.get(frame.stream);
        if (stream === undefined) {
          fail(frame.requestId, new MbError("STREAM_UNKNOWN", `No stream "${frame.stream}"`));
          return;
        }
        const length = stream.messages.length;
        const start = frame.start;
        let next = length;
        if (start.kind === "first") next = 0;
        else if (start.kind === "last") next = Math.max(0, length - 1);
        else if (start.kind === "offset") {
          if (start.value > length) {
            fail(frame.requestId, new MbError("OFFSET_OUT_OF_RANGE", `Offset ${start.value}`));
            return;
          }
          next = start.value;
        } else if (start.kind === "time") {
          next = stream.messages.findIndex((m) => m.timestamp >= start.value);
          if (next < 0) next = length;
        }
        const reader = {
          sid: frame.sid,
          stream: frame.stream,
          pattern: frame.pattern,
          next,
          credit: frame.credit,
        };
        c.readers.set(frame.sid, reader);
        ok(frame.requestId);
        pump(c, reader);
        return;
      }
      case FrameType.Credit: {
        const reader = c.readers.get(frame.sid);
        if (reader === undefined) return;
        reader.credit += frame.credit;
        pump(c, reader);
        return;
      }
      case FrameType.QueueSend: {
        const queue = queues.get(frame.queue);
        if (queue === undefined) {
          fail(frame.requestId, new MbError("QUEUE_UNKNOWN", `No queue "${frame.queue}"`));
          return;
        }
        const id = queue.nextId++;
        queue.messages.push({
          id,
          topic: frame.topic === "" ? frame.queue : frame.topic,
          payload: frame.payload.slice(),
          deliveries: 0,
          inFlight: false,
        });
        const result = new Uint8Array(8);
        writeU64(result, 0, id);
        ok(frame.requestId, result);
        pumpAll();
        return;
      }
      case FrameType.QueueConsume: {
        if (!queues.has(frame.queue)) {
          fail(frame.requestId, new MbError("QUEUE_UNKNOWN", `No queue "${frame.queue}"`));
          return;
        }
        const consumer = {
          sid: frame.sid,
          queue: frame.queue,
          prefetch: frame.prefetch,
          held: new Set<number>(),
        };
        c.consumers.set(frame.sid, consumer);
        ok(frame.requestId);
        offer(c, consumer);
        return;
      }
      case FrameType.Fetch: {
        const queue = queues.get(frame.queue);
        if (queue === undefined) {
          fail(frame.requestId, new MbError("QUEUE_UNKNOWN", `No queue "${frame.queue}"`));
          return;
        }
        const { requestId, sid, max } = frame;
        const deliver = () => {
          let sent = 0;
          for (const m of queue.messages) {
            if (sent >= max) break;
            if (m.inFlight) continue;
            deliverJob(c, sid, frame.queue, m);
            sent++;
          }
          ok(requestId);
          return sent;
        };
        const ready = queue.messages.some((m) => !m.inFlight);
        if (ready || frame.waitMs === 0) deliver();
        else waitingFetches.push({ queue: frame.queue, deliver });
        return;
      }
      case FrameType.Ack: {
        const queue = queues.get(frame.queue);
        const m = queue?.messages.find((m) => m.id === frame.messageId && m.inFlight);
        if (queue === undefined || m === undefined) {
          fail(frame.requestId, new MbError("MESSAGE_UNKNOWN", `No message ${frame.messageId}`));
          return;
        }
        for (const other of connections) {
          for (const consumer of other.consumers.values()) consumer.held.delete(m.id);
        }
        if (frame.action === AckAction.Ack) queue.messages.splice(queue.messages.indexOf(m), 1);
        else m.inFlight = false;
        ok(frame.requestId);
        pumpAll();
        return;
      }
      case FrameType.Subscribe:
      case FrameType.Unsubscribe:
        if (frame.type === FrameType.Unsubscribe) {
          c.readers.delete(frame.sid);
          c.consumers.delete(frame.sid);
        }
        if (frame.requestId !== 0) ok(frame.requestId);
        return;
    }
  }

  const accepted = (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      let writing = Promise.resolve();
      const c: FakeConnection = {
        conn,
        readers: new Map(),
        consumers: new Map(),
        send(frame) {
          const bytes = encodeFrame(frame);
          writing = writing.then(() => conn.write(bytes)).then(() => {}, () => {});
        },
      };
      connections.push(c);
      handlers.push((async () => {
        const reader = conn.readable.pipeThrough(new FrameDecoder()).getReader();
        try {
          await reader.read();
          await conn.write(info);
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            received.push(value);
            handle(c, value);
          }
        } catch {
          // The connection was dropped.
        }
        connections.splice(connections.indexOf(c), 1);
        // Messages held by a lost connection's consumers go back to the queue.
        for (const consumer of c.consumers.values()) {
          for (const m of queues.get(consumer.queue)?.messages ?? []) {
            if (consumer.held.has(m.id)) m.inFlight = false;
          }
        }
        await writing;
        try {
          conn.close();
        } catch { /* closed */ }
      })());
    }
  })();

  return {
    url: `mb://127.0.0.1:${listener.addr.port}`,
    received,
    streams,
    /** Stores a message in `stream` as a publish would, and feeds the readers. */
    append(stream: string, topic: string, text: string): void {
      streams.get(stream)!.messages.push({
        topic,
        payload: encoder.encode(text),
        timestamp: Date.now(),
      });
      pumpAll();
    },
    /** Drops every client connection (the clients reconnect). */
    dropConnections(): void {
      for (const c of connections) {
        try {
          c.conn.close();
        } catch { /* closed */ }
      }
    },
    async close(): Promise<void> {
      listener.close();
      this.dropConnections();
      await accepted.catch(() => {});
      await Promise.all(handlers);
    },
  };
}

/** A running fake broker. */
export type FakeDurableBroker = ReturnType<typeof fakeDurableBroker>;
