// Copyright mb authors. MIT license.
// Every core feature, over each transport: TCP, TLS and unix sockets.

import assert from "node:assert/strict";
import { type Client, connect, MbError, type Message } from "../mod.ts";
import { deadline, startBroker, tempSocketPath, testCertificate, uniqueTopic } from "./_helpers.ts";

interface Setup {
  broker: Awaited<ReturnType<typeof startBroker>>;
  url: string;
  caCerts?: string[];
  cleanup(): Promise<void>;
}

const TRANSPORTS: Record<string, () => Promise<Setup>> = {
  tcp: async () => {
    const broker = await startBroker();
    return { broker, url: broker.url, cleanup: () => broker.stop() };
  },
  tls: async () => {
    const { ca, cert, key } = await testCertificate();
    const broker = await startBroker({ port: null, tls: { cert, key, port: 0 } });
    const port = broker.addresses[0].port;
    return {
      broker,
      url: `tls://localhost:${port}`,
      caCerts: [ca],
      cleanup: () => broker.stop(),
    };
  },
  unix: async () => {
    const path = await tempSocketPath();
    const broker = await startBroker({ port: null, unixPath: path });
    return {
      broker,
      url: `unix://${path}`,
      cleanup: async () => {
        await broker.stop();
        await Deno.remove(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      },
    };
  },
};

async function take(iterable: AsyncIterable<Message>, count: number, name: string) {
  const out: Message[] = [];
  await deadline(
    (async () => {
      for await (const message of iterable) {
        out.push(message);
        if (out.length === count) break;
      }
    })(),
    5000,
    name,
  );
  return out;
}

for (const [transport, setUp] of Object.entries(TRANSPORTS)) {
  Deno.test(`Client over ${transport}: features`, async (t) => {
    const setup = await setUp();
    const open = (name: string) => connect(setup.url, { name, caCerts: setup.caCerts });
    const clients: Client[] = [];
    try {
      const a = await open("a");
      const b = await open("b");
      clients.push(a, b);

      await t.step("publish reaches a wildcard subscriber with headers", async () => {
        const base = uniqueTopic();
        const sub = b.subscribe(`${base}/#`);
        const single = b.subscribe(`${base}/+/temp`);
        await b.flush();
        await a.publish(`${base}/kitchen/temp`, "22.5", { headers: { unit: "C", "x-é": "ü" } });
        await a.publish(`${base}/kitchen`, new Uint8Array([1, 2, 3]));
        const got = await take(sub, 2, "wildcard deliveries");
        assert.equal(got[0].topic, `${base}/kitchen/temp`);
        assert.equal(got[0].text(), "22.5");
        assert.deepEqual(got[0].headers, { unit: "C", "x-é": "ü" });
        assert.deepEqual([...got[1].data], [1, 2, 3]);
        assert.deepEqual(got[1].headers, {});
        const [temp] = await take(single, 1, "single-level wildcard");
        assert.equal(temp.topic, `${base}/kitchen/temp`);
        await sub.unsubscribe();
        await single.unsubscribe();
      });

      await t.step("a message is delivered once per matching subscription", async () => {
        const topic = uniqueTopic();
        const first = b.subscribe(topic);
        const second = b.subscribe(topic);
        await b.flush();
        await a.publish(topic, "x");
        await take(first, 1, "first subscription");
        await take(second, 1, "second subscription");
        await first.unsubscribe();
        await second.unsubscribe();
      });

      await t.step("unsubscribe stops delivery on a live connection", async () => {
        const topic = uniqueTopic();
        const sub = b.subscribe(topic);
        const control = b.subscribe(topic);
        await b.flush();
        await sub.unsubscribe();
        await a.publish(topic, "after");
        await take(control, 1, "control subscription");
        assert.equal(sub.received, 0);
        assert.equal(sub.ended, true);
        await control.unsubscribe();
      });

      await t.step("queue group members share messages", async () => {
        const topic = uniqueTopic();
        const c = await open("c");
        clients.push(c);
        const counts = [0, 0, 0];
        let total = 0;
        const all = Promise.withResolvers<void>();
        const members = [a, b, c].map((client, i) =>
          client.subscribe(topic, {
            queue: "workers",
            callback: () => {
              counts[i]++;
              if (++total === 300) all.resolve();
            },
          })
        );
        const watcher = b.subscribe(topic, { max: 300 });
        await Promise.all([a.flush(), b.flush(), c.flush()]);
        for (let i = 0; i < 300; i++) await a.publish(topic, String(i));
        await deadline(all.promise, 5000, "300 queue deliveries");
        await a.flush();
        await b.flush();
        await c.flush();
        assert.equal(counts[0] + counts[1] + counts[2], 300);
        assert.ok(counts.every((n) => n > 0), `every member got work: ${counts}`);
        assert.equal((await take(watcher, 300, "plain subscriber sees all")).length, 300);
        for (const member of members) await member.unsubscribe();
      });

      await t.step("request and reply through an inbox", async () => {
        const topic = uniqueTopic("svc");
        b.subscribe(topic, {
          callback: (msg) => void msg.respond(`echo:${msg.text()}`, { headers: { from: "b" } }),
        });
        await b.flush();
        const reply = await a.request(topic, "ping", { timeoutMs: 2000 });
        assert.equal(reply.text(), "echo:ping");
        assert.equal(reply.headers.from, "b");
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) => a.request(topic, String(i))),
        );
        assert.deepEqual(replies.map((r) => r.text()), replies.map((_, i) => `echo:${i}`));
      });

      await t.step("request without responders fails with NO_RESPONDERS", async () => {
        await assert.rejects(a.request(uniqueTopic("none"), "?"), { code: "NO_RESPONDERS" });
      });

      await t.step("request times out with TIMEOUT", async () => {
        const topic = uniqueTopic("slow");
        const silent = b.subscribe(topic, { callback: () => {} });
        await b.flush();
        await assert.rejects(a.request(topic, "?", { timeoutMs: 100 }), { code: "TIMEOUT" });
        await silent.unsubscribe();
      });

      await t.step("confirmed publish resolves; a bad topic rejects with a code", async () => {
        await a.publish(uniqueTopic(), "x", { confirm: true });
        await assert.rejects(a.publish("bad//topic", "x"), { code: "TOPIC_INVALID" });
        await assert.rejects(a.publish("bad/+", "x"), { code: "TOPIC_INVALID" });
        await assert.rejects(a.publish("$SYS/x", "x", { confirm: true }), {
          code: "TOPIC_INVALID",
        });
        assert.throws(() => a.subscribe("a/#/b"), { code: "TOPIC_INVALID" });
      });

      await t.step("a subscription is also a ReadableStream", async () => {
        const topic = uniqueTopic();
        const sub = b.subscribe(topic);
        await b.flush();
        for (let i = 0; i < 3; i++) await a.publish(topic, String(i));
        const reader = sub.readable.getReader();
        const seen: string[] = [];
        for (let i = 0; i < 3; i++) {
          const { value } = await deadline(reader.read(), 5000, "stream read");
          seen.push(value!.text());
        }
        assert.deepEqual(seen, ["0", "1", "2"]);
        await reader.cancel();
      });

      await t.step("many subscriptions on one connection", async () => {
        const base = uniqueTopic();
        let got = 0;
        const done = Promise.withResolvers<void>();
        const subs = Array.from({ length: 500 }, (_, i) =>
          b.subscribe(`${base}/${i}`, {
            callback: () => {
              if (++got === 500) done.resolve();
            },
          }));
        await b.flush();
        for (let i = 0; i < 500; i++) await a.publish(`${base}/${i}`, "x");
        await deadline(done.promise, 5000, "500 subscriptions");
        await Promise.all(subs.map((s) => s.unsubscribe()));
        assert.equal(setup.broker.stats().connections >= 2, true);
      });

      await t.step("drain delivers what was received, then closes", async () => {
        const d = await open("d");
        const topic = uniqueTopic();
        const sub = d.subscribe(topic);
        await d.flush();
        for (let i = 0; i < 10; i++) await a.publish(topic, String(i));
        await a.flush();
        await d.flush();
        await d.drain();
        const texts: string[] = [];
        for await (const msg of sub) texts.push(msg.text());
        assert.equal(texts.length, 10);
        assert.equal(await d.closed, undefined);
        await assert.rejects(d.publish(topic, "late"), { code: "CONNECTION_CLOSED" });
      });
    } finally {
      for (const client of clients) await client.close();
      await setup.cleanup();
    }
  });
}

Deno.test("connect fails with CONNECTION_FAILED when nobody listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(connect(`mb://127.0.0.1:${port}`, { timeoutMs: 2000 }), (error) => {
    assert.ok(error instanceof MbError);
    assert.equal(error.code, "CONNECTION_FAILED");
    return true;
  });
});

Deno.test("connect refuses a wrong token with AUTH_FAILED and accepts the right one", async () => {
  await using broker = await startBroker({ token: "s3cret" });
  await assert.rejects(connect(broker.url, { token: "nope" }), { code: "AUTH_FAILED" });
  await assert.rejects(connect(broker.url), { code: "AUTH_FAILED" });
  await using client = await connect(broker.url, { token: "s3cret" });
  await client.flush();
});

Deno.test("connect rejects unknown URL schemes with UNSUPPORTED_TRANSPORT", async () => {
  await assert.rejects(connect("http://127.0.0.1:1"), { code: "UNSUPPORTED_TRANSPORT" });
  await assert.rejects(connect("not a url"), { code: "INVALID_ARGUMENT" });
});

Deno.test("connect takes a list of servers and uses the first that answers", async () => {
  await using broker = await startBroker();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = `mb://127.0.0.1:${listener.addr.port}`;
  listener.close();
  await using client = await connect([dead, broker.url]);
  assert.equal(client.server, `${broker.url}`);
});

Deno.test("publish rejects a payload over the server's limit with PAYLOAD_TOO_LARGE", async () => {
  await using broker = await startBroker({ maxPayloadBytes: 1024 });
  await using client = await connect(broker.url);
  assert.equal(client.info.maxPayloadBytes, 1024);
  await assert.rejects(client.publish("big", new Uint8Array(1025)), { code: "PAYLOAD_TOO_LARGE" });
  await client.publish("ok", new Uint8Array(1024), { confirm: true });
});

Deno.test("payloads up to the limit survive the trip intact", async () => {
  await using broker = await startBroker();
  await using a = await connect(broker.url);
  await using b = await connect(broker.url);
  const topic = uniqueTopic();
  const sub = b.subscribe(topic);
  await b.flush();
  const big = new Uint8Array(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  await a.publish(topic, big);
  await a.publish(topic, "");
  const [first, second] = await take(sub, 2, "large payload");
  assert.equal(first.data.length, big.length);
  assert.deepEqual(first.data, big);
  assert.equal(second.data.length, 0);
});
