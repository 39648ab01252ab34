// Copyright mb authors. MIT license.
// The broker as users run it: `deno run -A server/main.ts`, configured by
// flags, MB_* variables and a JSON file; clients reconnect across restarts;
// SIGINT/SIGTERM say goodbye, flush, and exit 0.

import assert from "node:assert/strict";
import { connect, type Message, type StatusEvent } from "../mod.ts";
import {
  deadline,
  ROOT,
  spawnServer,
  tempSocketPath,
  testCertificate,
  uniqueTopic,
} from "./_helpers.ts";

async function run(args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}server/main.ts`, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("mb-server --help lists the options and exits 0", async () => {
  const { code, stdout } = await run(["--help"]);
  assert.equal(code, 0);
  for (const flag of ["--port", "--tls-cert", "--tls-key", "--unix", "--log-level", "--config"]) {
    assert.ok(stdout.includes(flag), `help mentions ${flag}`);
  }
  assert.ok(stdout.includes("MB_"));
});

Deno.test("mb-server refuses bad settings with exit code 2 and a clear message", async () => {
  const bad = await run(["--port", "nope"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Invalid --port: "nope"/);
  const unknown = await run(["--bogus"]);
  assert.equal(unknown.code, 2);
  const env = await run([], { MB_SLOW_CONSUMER: "maybe" });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /MB_SLOW_CONSUMER/);
  const tlsHalf = await run(["--tls-cert", "x.pem"]);
  assert.equal(tlsHalf.code, 2);
  assert.match(tlsHalf.stderr, /--tls-cert and --tls-key go together/);
});

Deno.test("mb-server starts TCP, TLS and unix listeners from flags and serves each", async () => {
  const { ca, certPath, keyPath } = await testCertificate();
  const socket = await tempSocketPath();
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--tls-cert",
    certPath,
    "--tls-key",
    keyPath,
    "--tls-port",
    "0",
    "--unix",
    socket,
  ], { expectUrls: 3 });
  const [tcp, tls, unix] = server.urls;
  assert.match(tcp, /^mb:\/\/127\.0\.0\.1:\d+$/);
  assert.match(tls, /^tls:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(unix, `unix://${socket}`);
  const tlsUrl = tls.replace("127.0.0.1", "localhost");
  await using a = await connect(tcp);
  await using b = await connect(tlsUrl, { caCerts: [ca] });
  await using c = await connect(unix);
  const topic = uniqueTopic();
  const subB = b.subscribe(topic, { max: 1 });
  const subC = c.subscribe(topic, { max: 1 });
  await Promise.all([b.flush(), c.flush()]);
  await a.publish(topic, "to all transports");
  for (const sub of [subB, subC]) {
    for await (const msg of sub) assert.equal(msg.text(), "to all transports");
  }
});

Deno.test("mb-server creates the streams and queues of its config file in --data, and keeps them", async () => {
  const dir = await Deno.makeTempDir();
  const configPath = `${dir}/mb.json`;
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      host: "127.0.0.1",
      port: 0,
      data: `${dir}/data`,
      fsync: "never",
      streams: [{ name: "orders", topics: ["orders/#"], maxMsgs: 1000 }],
      queues: [{ name: "emails", topics: ["mail/#"], maxDeliver: 3 }],
    }),
  );
  try {
    for (const round of [0, 1]) {
      await using server = await spawnServer(["--config", configPath]);
      await using client = await connect(server.urls[0]);
      assert.equal(client.info.store, "disk");
      const stream = await client.streams.info("orders");
      assert.deepEqual([stream.topics, stream.maxMsgs], [["orders/#"], 1000]);
      assert.equal(await client.publish("orders/1", "o", { confirm: true }), round);
      const queue = await client.queues.info("emails");
      assert.equal(queue.maxDeliver, 3);
      await client.publish("mail/1", "m", { confirm: true });
      assert.equal((await client.queues.info("emails")).messages, round + 1);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mb-server reads MB_* variables and a JSON config file; flags win", async () => {
  const dir = await Deno.makeTempDir();
  const configPath = `${dir}/mb.json`;
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      host: "127.0.0.1",
      port: 0,
      token: "from-file",
      maxPayload: 2048,
      data: ":memory:",
    }),
  );
  await using server = await spawnServer(["--config", configPath, "--token", "from-flag"], {
    env: { MB_MAX_PAYLOAD: "4096" },
  });
  const url = server.urls[0];
  await assert.rejects(connect(url, { token: "from-file" }), { code: "AUTH_FAILED" });
  await using client = await connect(url, { token: "from-flag" });
  assert.equal(client.info.maxPayloadBytes, 4096);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mb-server logs at the chosen level to stderr, as JSON lines when asked", async () => {
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--log-level",
    "debug",
    "--log-format",
    "json",
  ]);
  await using client = await connect(server.urls[0], { name: "log-test" });
  await client.flush();
  await client.close();
  server.child.kill("SIGTERM");
  assert.equal((await server.child.status).code, 0);
  const lines = (await server.stderr()).trim().split("\n").map((line) => JSON.parse(line));
  assert.ok(lines.some((l) => l.level === "DEBUG" && String(l.message).includes("log-test")));
  assert.ok(lines.some((l) => String(l.message).includes("Listening on")));
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`mb-server on ${signal} says goodbye, flushes, and exits 0`, async () => {
    await using server = await spawnServer(["--host", "127.0.0.1", "--port", "0"]);
    const events: StatusEvent[] = [];
    await using client = await connect(server.urls[0], {
      reconnect: false,
      onStatus: (event) => events.push(event),
    });
    const topic = uniqueTopic();
    const sub = client.subscribe(topic);
    await client.flush();
    for (let i = 0; i < 1000; i++) await client.publish(topic, String(i));
    await client.flush();
    server.child.kill(signal);
    const status = await deadline(server.child.status, 10_000, "server exit");
    assert.equal(status.code, 0);
    // Everything published before the signal was delivered before the close.
    let count = 0;
    for await (const _ of sub) count++;
    assert.equal(count, 1000);
    assert.ok(events.some((e) => e.type === "disconnect"));
  });
}

Deno.test("Client reconnects after a broker restart and restores its subscriptions", async () => {
  const socket = await tempSocketPath();
  // A unix socket path stays the same across restarts, unlike port 0.
  const args = ["--host", "127.0.0.1", "--port", "0", "--unix", socket];
  const first = await spawnServer(args, { expectUrls: 2 });
  const url = first.urls[1];
  const events: StatusEvent[] = [];
  const reconnected = Promise.withResolvers<void>();
  await using subscriber = await connect(url, {
    reconnectDelayMs: 20,
    onStatus: (event) => {
      events.push(event);
      if (event.type === "reconnect") reconnected.resolve();
    },
  });
  const topic = uniqueTopic();
  const sub = subscriber.subscribe(`${topic}/#`);
  const queued = subscriber.subscribe(`${topic}/q`, { queue: "workers" });
  await subscriber.flush();
  {
    await using publisher = await connect(url);
    await publisher.publish(`${topic}/before`, "1");
    await publisher.flush();
  }
  const iterator = sub[Symbol.asyncIterator]();
  const before = await deadline(iterator.next(), 5000, "message before restart");
  assert.equal((before.value as Message).text(), "1");

  first.child.kill("SIGKILL");
  await first.child.status;
  await first[Symbol.asyncDispose]();
  // Published while the broker is down: buffered, sent after reconnecting.
  const buffered = subscriber.publish(`${topic}/buffered`, "2");

  await using second = await spawnServer(args, { expectUrls: 2 });
  await deadline(reconnected.promise, 10_000, "client reconnect");
  await buffered;
  await subscriber.flush();
  await using publisher = await connect(second.urls[0]);
  await publisher.publish(`${topic}/after`, "3");
  await publisher.publish(`${topic}/q`, "4");
  const texts: string[] = [];
  while (texts.length < 3) {
    const next = await deadline(iterator.next(), 5000, "messages after restart");
    texts.push((next.value as Message).text());
  }
  assert.deepEqual(texts.sort(), ["2", "3", "4"]);
  const [fromQueue] = await deadline(
    (async () => {
      for await (const msg of queued) return [msg];
      return [];
    })(),
    5000,
    "queue group restored",
  );
  assert.equal(fromQueue?.text(), "4");
  const types = events.map((e) => e.type);
  assert.ok(types.includes("disconnect") && types.includes("reconnecting"), types.join());
});

Deno.test("Client gives up after maxReconnectAttempts and resolves closed with the error", async () => {
  await using server = await spawnServer(["--host", "127.0.0.1", "--port", "0"]);
  const client = await connect(server.urls[0], {
    maxReconnectAttempts: 2,
    reconnectDelayMs: 10,
    maxReconnectDelayMs: 20,
  });
  const sub = client.subscribe("x");
  server.child.kill("SIGKILL");
  const error = await deadline(client.closed, 10_000, "client closed");
  assert.equal(error?.code, "CONNECTION_CLOSED");
  for await (const _ of sub) { /* ends */ }
  await assert.rejects(client.publish("x", "y"), { code: "CONNECTION_CLOSED" });
});
