// Copyright mb authors. MIT license.
// The client over WebSocket (`ws:` URLs, client/transport_websocket.ts)
// against the broker's web listener: pub/sub, request/reply, streams and
// queues, backpressure with large messages, reconnecting after a broker
// restart on the same port, the errors of failed connections, the browser
// entry point, and Node.js (global WebSocket from Node.js 22).

import assert from "node:assert/strict";
import { connect, MbError, type Message, type StatusEvent } from "../mod.ts";
import * as browser from "../client/browser.ts";
import type { Broker } from "../server/mod.ts";
import { deadline, ROOT, startBroker, take, uniqueName, uniqueTopic } from "./_helpers.ts";

/** The `ws:` URL of a broker's web listener. */
function wsUrl(broker: Broker): string {
  const http = broker.addresses.find((a) => a.transport === "http");
  assert.ok(http !== undefined, "the broker has a web listener");
  return http.url.replace(/^http/, "ws");
}

Deno.test("connect() over ws: publishes to wildcard subscriptions and queue groups", async () => {
  await using broker = await startBroker({ httpPort: 0 });
  await using a = await connect(wsUrl(broker), { name: "ws-a" });
  await using b = await connect(wsUrl(broker), { name: "ws-b" });
  assert.match(a.server, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  const topic = uniqueTopic("ws");
  const all = b.subscribe(`${topic}/#`);
  const one = b.subscribe(`${topic}/+/temp`);
  const grouped: string[] = [];
  b.subscribe(`${topic}/jobs`, { queue: "workers", callback: (m) => grouped.push(m.text()) });
  b.subscribe(`${topic}/jobs`, { queue: "workers", callback: (m) => grouped.push(m.text()) });
  await b.flush();

  await a.publish(`${topic}/kitchen/temp`, "22.5", { headers: { unit: "C" } });
  await a.publish(`${topic}/bytes`, new Uint8Array([0, 1, 255]));
  await a.publish(`${topic}/jobs`, "job-1", { confirm: true });

  const seen = await take(all[Symbol.asyncIterator](), 3, 5000, "wildcard messages over ws");
  assert.deepEqual(seen.map((m) => m.topic), [
    `${topic}/kitchen/temp`,
    `${topic}/bytes`,
    `${topic}/jobs`,
  ]);
  assert.equal(seen[0].text(), "22.5");
  assert.deepEqual(seen[0].headers, { unit: "C" });
  assert.deepEqual(seen[1].data, new Uint8Array([0, 1, 255]));
  const [temp] = await take(one[Symbol.asyncIterator](), 1, 5000, "single-level wildcard");
  assert.equal(temp.topic, `${topic}/kitchen/temp`);
  await b.flush();
  assert.deepEqual(grouped, ["job-1"], "one member of the queue group gets the job");
});

Deno.test("connect() over ws: request/reply, and NO_RESPONDERS without a responder", async () => {
  await using broker = await startBroker({ httpPort: 0 });
  await using server = await connect(wsUrl(broker));
  await using client = await connect(wsUrl(broker));
  const topic = uniqueTopic("ws-svc");
  server.subscribe(topic, { callback: (msg) => void msg.respond(`re:${msg.text()}`) });
  await server.flush();
  const reply = await client.request(topic, "ping", { timeoutMs: 5000 });
  assert.equal(reply.text(), "re:ping");
  await assert.rejects(
    client.request(`${topic}/nobody`, "ping", { timeoutMs: 5000 }),
    (error) => error instanceof MbError && error.code === "NO_RESPONDERS",
  );
});

Deno.test("connect() over ws: streams replay from an offset and queues deliver with acks", async () => {
  await using broker = await startBroker({ httpPort: 0 });
  await using mb = await connect(wsUrl(broker));
  const topic = uniqueTopic("ws-stream");
  const stream = uniqueName("ws");
  await mb.streams.create({ name: stream, topics: [`${topic}/#`] });
  for (let i = 0; i < 5; i++) await mb.publish(`${topic}/n`, `m${i}`, { confirm: true });
  const reader = mb.subscribe("", { stream, from: 2 });
  const replayed = await take(reader[Symbol.asyncIterator](), 3, 5000, "stream replay over ws");
  assert.deepEqual(replayed.map((m) => [m.offset, m.text()]), [[2, "m2"], [3, "m3"], [4, "m4"]]);
  await reader.unsubscribe();

  const queue = uniqueName("ws-q");
  await mb.queues.declare(queue);
  await mb.queues.send(queue, "work");
  const [job] = await mb.queues.fetch(queue, { max: 1, timeoutMs: 5000 });
  assert.equal(job.text(), "work");
  await job.ack();
  assert.equal((await mb.queues.info(queue)).messages, 0);
});

Deno.test("connect() over ws: 8 MiB in 2 MiB messages arrive whole and in order", async () => {
  await using broker = await startBroker({ httpPort: 0, maxPayloadBytes: 4 * 1024 * 1024 });
  await using a = await connect(wsUrl(broker));
  await using b = await connect(wsUrl(broker));
  const topic = uniqueTopic("ws-big");
  const sub = b.subscribe(topic);
  await b.flush();
  const payload = new Uint8Array(2 * 1024 * 1024);
  for (let i = 0; i < 4; i++) {
    payload.fill(i);
    // Each publish copies the payload into the outbound batch.
    await a.publish(topic, payload);
  }
  const got = await take(sub[Symbol.asyncIterator](), 4, 15_000, "large messages over ws");
  for (let i = 0; i < 4; i++) {
    assert.equal(got[i].data.length, payload.length);
    assert.ok(got[i].data.every((byte) => byte === i), `message ${i} intact`);
  }
});

Deno.test("connect() over ws: reconnects to a broker restarted on the same port and restores subscriptions", async () => {
  const first = await startBroker({ httpPort: 0 });
  const url = wsUrl(first);
  const port = first.addresses.find((a) => a.transport === "http")!.port;
  const events: StatusEvent[] = [];
  const disconnected = Promise.withResolvers<void>();
  const reconnected = Promise.withResolvers<void>();
  await using subscriber = await connect(url, {
    reconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
    onStatus: (event) => {
      events.push(event);
      if (event.type === "disconnect") disconnected.resolve();
      if (event.type === "reconnect") reconnected.resolve();
    },
  });
  const topic = uniqueTopic("ws-restart");
  const sub = subscriber.subscribe(`${topic}/#`);
  const queued = subscriber.subscribe(`${topic}/q`, { queue: "workers" });
  await subscriber.flush();
  {
    await using publisher = await connect(url);
    await publisher.publish(`${topic}/before`, "1");
    await publisher.flush();
  }
  const iterator = sub[Symbol.asyncIterator]();
  const [before] = await take(iterator, 1, 5000, "message before the restart");
  assert.equal(before.text(), "1");

  await first.stop();
  await deadline(disconnected.promise, 5000, "disconnect when the broker stops");
  // Published while the broker is down: buffered, sent after reconnecting.
  const buffered = subscriber.publish(`${topic}/buffered`, "2");

  await using second = await startBroker({ httpPort: port });
  await deadline(reconnected.promise, 10_000, "reconnect to the new broker");
  await buffered;
  await subscriber.flush();
  assert.equal(subscriber.server, new URL(url).href);
  await using publisher = await connect(wsUrl(second));
  await publisher.publish(`${topic}/after`, "3");
  await publisher.publish(`${topic}/q`, "4");
  const after = await take(iterator, 3, 5000, "messages after the restart");
  assert.deepEqual(after.map((m: Message) => m.text()).sort(), ["2", "3", "4"]);
  const [fromQueue] = await take(queued[Symbol.asyncIterator](), 1, 5000, "queue group restored");
  assert.equal(fromQueue.text(), "4");
  const types = events.map((e) => e.type);
  assert.ok(types.includes("reconnecting"), types.join());
});

Deno.test("connect() over ws: a refused connection fails with CONNECTION_FAILED and the close code", async () => {
  // A port that was free a moment ago: nothing listens there now.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    connect(`ws://127.0.0.1:${port}/`, { timeoutMs: 5000 }),
    (error) =>
      error instanceof MbError && error.code === "CONNECTION_FAILED" &&
      /WebSocket code \d+/.test(error.message) && error.message.includes(`127.0.0.1:${port}`),
  );
});

Deno.test("connect() over ws: a server that refuses the upgrade fails with CONNECTION_FAILED", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("no WebSocket here", { status: 404 }),
  );
  await assert.rejects(
    connect(`ws://127.0.0.1:${server.addr.port}/`, { timeoutMs: 5000 }),
    (error) => error instanceof MbError && error.code === "CONNECTION_FAILED",
  );
});

Deno.test("client/browser.ts exports what mod.ts does, and its connect() opens only ws: URLs", async () => {
  const main = await import("../mod.ts");
  assert.deepEqual(Object.keys(browser).sort(), Object.keys(main).sort());
  await assert.rejects(
    browser.connect("mb://127.0.0.1:4150"),
    (error) =>
      error instanceof MbError && error.code === "UNSUPPORTED_TRANSPORT" &&
      error.message.includes("ws:"),
  );
  await using broker = await startBroker({ httpPort: 0 });
  await using mb = await browser.connect(wsUrl(broker));
  const topic = uniqueTopic("ws-browser-entry");
  const sub = mb.subscribe(topic, { max: 1 });
  await mb.publish(topic, "hi");
  const [msg] = await take(sub[Symbol.asyncIterator](), 1, 5000, "message via the browser entry");
  assert.equal(msg.text(), "hi");
});

Deno.test("connect() over ws: runs under Node.js 22+, and fails with UNSUPPORTED_TRANSPORT on Node.js 20", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mb-node-ws-" });
  try {
    const bundle = `${dir}/mb.mjs`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform=deno", "-o", bundle, `${ROOT}mod.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(built.success, `deno bundle failed: ${new TextDecoder().decode(built.stderr)}`);
    await using broker = await startBroker({ httpPort: 0 });
    let output;
    try {
      output = await new Deno.Command("node", {
        args: [`${ROOT}tests/node/websocket_check.mjs`, bundle, wsUrl(broker)],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      throw new Error(`This test needs Node.js on PATH (apt install nodejs): ${error}`);
    }
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `node failed (${output.code}): ${stderr}${stdout}`);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    const major = Number(String(result.version).split(".")[0]);
    if (major >= 22) {
      assert.deepEqual(result.seen, ["hello over ws from node"]);
      assert.equal(result.reply, "re:q");
    } else {
      assert.equal(result.error.code, "UNSUPPORTED_TRANSPORT");
      assert.match(result.error.message, /no WebSocket.*Node\.js has one from version 22/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
