// Copyright mb authors. MIT license.
// Client behaviour beyond plain pub/sub: keepalive against a silent server,
// backpressure, subscription limits, close semantics.

import assert from "node:assert/strict";
import { connect, type StatusEvent } from "../mod.ts";
import { encodeFrame, FrameDecoder, FrameType, PROTOCOL_VERSION } from "../protocol/mod.ts";
import { deadline, startBroker, uniqueTopic } from "./_helpers.ts";

/** The info frame the fake brokers below answer a hello with. */
const FAKE_INFO = encodeFrame({
  type: FrameType.Info,
  version: PROTOCOL_VERSION,
  info: {
    serverId: "fake",
    serverVersion: "0",
    clientId: 1,
    maxPayloadBytes: 2 * 1024 * 1024,
    maxFrameBytes: 4 * 1024 * 1024,
    maxSubscriptions: 10,
    pingIntervalMs: 30000,
  },
});

/** A fake broker: answers the handshake, then neither reads nor writes again. */
function silentServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepted = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      const reader = conn.readable.pipeThrough(new FrameDecoder()).getReader();
      await reader.read();
      await conn.write(FAKE_INFO);
      reader.releaseLock();
    }
  })();
  return {
    url: `mb://127.0.0.1:${listener.addr.port}`,
    conns,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await accepted.catch(() => {});
    },
  };
}

Deno.test("Client drops a server that stops answering pings and reconnects", async () => {
  const server = silentServer();
  const events: StatusEvent[] = [];
  const reconnected = Promise.withResolvers<void>();
  const client = await connect(server.url, {
    pingIntervalMs: 30,
    reconnectDelayMs: 10,
    onStatus: (event) => {
      events.push(event);
      if (event.type === "reconnect") reconnected.resolve();
    },
  });
  await deadline(reconnected.promise, 5000, "reconnect after silent server");
  assert.ok(events.some((e) => e.type === "disconnect"));
  assert.ok(server.conns.length >= 2, "a second connection was made");
  await client.close();
  await server.close();
});

Deno.test("Client.publish applies backpressure when the server does not read", async () => {
  const server = silentServer();
  const client = await connect(server.url, { reconnect: false });
  const payload = new Uint8Array(1024 * 1024);
  // A small burst is buffered and resolves at once.
  await deadline(client.publish("t", new Uint8Array(10)), 1000, "first publish");
  // 32 MiB cannot all go into the socket: a publish must make the caller wait.
  let waited = false;
  for (let i = 0; i < 32 && !waited; i++) {
    let settled = false;
    const result = client.publish("t", payload).then(() => settled = true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    waited = !settled;
    if (!waited) await result;
  }
  assert.ok(waited, "some publish stayed pending while the socket was full");
  await server.close();
  await client.close();
});

Deno.test("Client.publish with awaited results delivers everything without drops", async () => {
  await using broker = await startBroker();
  await using publisher = await connect(broker.url);
  await using subscriber = await connect(broker.url);
  const topic = uniqueTopic();
  let received = 0;
  const all = Promise.withResolvers<void>();
  subscriber.subscribe(topic, {
    callback: () => {
      if (++received === 20_000) all.resolve();
    },
  });
  await subscriber.flush();
  const payload = new Uint8Array(1024);
  for (let i = 0; i < 20_000; i++) await publisher.publish(topic, payload);
  await deadline(all.promise, 10_000, "20,000 messages of 1 KiB");
  assert.equal(broker.stats().dropped, 0);
});

Deno.test("Subscription with max ends after that many messages", async () => {
  await using broker = await startBroker();
  await using client = await connect(broker.url);
  const topic = uniqueTopic();
  const sub = client.subscribe(topic, { max: 3 });
  await client.flush();
  for (let i = 0; i < 5; i++) await client.publish(topic, String(i));
  const texts: string[] = [];
  await deadline(
    (async () => {
      for await (const msg of sub) texts.push(msg.text());
    })(),
    5000,
    "subscription with max",
  );
  assert.deepEqual(texts, ["0", "1", "2"]);
  assert.equal(sub.ended, true);
});

Deno.test("Subscription drops and counts messages beyond maxPending", async () => {
  await using broker = await startBroker();
  await using client = await connect(broker.url);
  const topic = uniqueTopic();
  const sub = client.subscribe(topic, { maxPending: 10 });
  await client.flush();
  for (let i = 0; i < 25; i++) await client.publish(topic, String(i));
  await client.flush();
  assert.equal(sub.received, 25);
  assert.equal(sub.dropped, 15);
  const iterator = sub[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value?.text(), "0");
});

Deno.test("Client.close ends subscriptions, fails later calls, resolves closed", async () => {
  await using broker = await startBroker();
  const client = await connect(broker.url);
  const sub = client.subscribe(uniqueTopic());
  const pendingRequest = client.request(uniqueTopic("svc"), "x").catch((e) => e.code);
  await client.close();
  assert.equal(await client.closed, undefined);
  assert.equal(client.isClosed, true);
  for await (const _ of sub) assert.fail("no message after close");
  assert.ok(["CONNECTION_CLOSED", "NO_RESPONDERS"].includes(await pendingRequest));
  await assert.rejects(client.publish("a", "b"), { code: "CONNECTION_CLOSED" });
  await assert.rejects(client.flush(), { code: "CONNECTION_CLOSED" });
  assert.throws(() => client.subscribe("a"), { code: "CONNECTION_CLOSED" });
  await client.close();
});

Deno.test("Client.drain while reconnecting closes instead of waiting for the server", async () => {
  const broker = await startBroker();
  const disconnected = Promise.withResolvers<void>();
  const client = await connect(broker.url, {
    reconnectDelayMs: 50,
    onStatus: (event) => {
      if (event.type === "disconnect") disconnected.resolve();
    },
  });
  const sub = client.subscribe(uniqueTopic());
  await client.flush();
  await broker.stop();
  await deadline(disconnected.promise, 5000, "disconnect");
  await deadline(client.drain(), 5000, "drain while reconnecting");
  assert.equal(await client.closed, undefined);
  for await (const _ of sub) assert.fail("no message");
});

Deno.test("A throwing subscription callback is reported and breaks nothing else", async () => {
  await using broker = await startBroker();
  const errors: Error[] = [];
  await using client = await connect(broker.url, {
    onStatus: (event) => {
      if (event.type === "error") errors.push(event.error);
    },
  });
  const topic = uniqueTopic();
  client.subscribe(topic, {
    callback: (msg) => {
      if (msg.text() === "boom") throw new Error("user bug in callback");
    },
  });
  const other = client.subscribe(topic, { max: 2 });
  await client.flush();
  await client.publish(topic, "boom");
  await client.publish(topic, "fine");
  const texts: string[] = [];
  for await (const msg of other) texts.push(msg.text());
  assert.deepEqual(texts, ["boom", "fine"]);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /user bug/);
  await client.flush();
  assert.equal(broker.stats().totalConnections, 1, "no reconnect happened");
});

Deno.test("Client.request recreates its inbox after the broker refused it", async () => {
  await using broker = await startBroker({ maxSubscriptions: 1 });
  await using responder = await connect(broker.url);
  const topic = uniqueTopic("svc");
  responder.subscribe(topic, { callback: (msg) => void msg.respond("pong") });
  await responder.flush();
  await using client = await connect(broker.url);
  const blocker = client.subscribe(uniqueTopic());
  await client.flush();
  // No room for the inbox: the request cannot get its reply.
  await assert.rejects(client.request(topic, "ping", { timeoutMs: 200 }), { code: "TIMEOUT" });
  await blocker.unsubscribe();
  const reply = await client.request(topic, "ping", { timeoutMs: 2000 });
  assert.equal(reply.text(), "pong");
});

Deno.test("Client.subscribe refuses max below 1 with INVALID_ARGUMENT", async () => {
  await using broker = await startBroker();
  await using client = await connect(broker.url);
  assert.throws(() => client.subscribe("a", { max: 0 }), { code: "INVALID_ARGUMENT" });
  assert.throws(() => client.subscribe("a", { max: Number.NaN }), { code: "INVALID_ARGUMENT" });
  assert.throws(() => client.subscribe("a", { queue: "a/b" }), { code: "INVALID_ARGUMENT" });
});

Deno.test("A confirmed publish sent on a connection that drops is rejected, whatever its size", async () => {
  // A fake broker: handshakes, then drops the connection once a publish arrives.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    for await (const conn of listener) {
      (async () => {
        const reader = conn.readable.pipeThrough(new FrameDecoder({ maxFrameBytes: 1 << 22 }))
          .getReader();
        try {
          await reader.read();
          await conn.write(FAKE_INFO);
          for (;;) {
            const { value, done } = await reader.read();
            if (done || value.type === FrameType.Publish) break;
          }
        } catch {
          // The client went away.
        }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  // Past 64 KiB the publish starts a write at once, inside publish().
  for (const size of [100, 100_000]) {
    const client = await connect(`mb://127.0.0.1:${listener.addr.port}`, {
      reconnectDelayMs: 10,
    });
    await assert.rejects(
      deadline(
        client.publish("t", new Uint8Array(size), { confirm: true }),
        3000,
        `confirm of ${size} bytes settles`,
      ),
      { code: "CONNECTION_CLOSED" },
    );
    await client.close();
  }
  listener.close();
  await accepted.catch(() => {});
});
