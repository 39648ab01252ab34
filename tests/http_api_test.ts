// Copyright mb authors. MIT license.
// The HTTP API end to end, over real sockets against a broker with its web
// listener: publish (and what native clients see of it), Server-Sent Events
// live and from streams (Last-Event-ID resume, slow readers), stream pages,
// work queues over HTTP, administration, errors and statuses, auth, bodies
// over the limit refused without being buffered, and the OpenAPI document
// checked against what the server answers.

import assert from "node:assert/strict";
import { type Client, connect } from "../mod.ts";
import { HttpApi } from "../server/gateway/http_api.ts";
import type { BrokerOptions } from "../server/mod.ts";
import { Router } from "../server/router.ts";
import { DurableStore } from "../server/store/durable_store.ts";
import { deadline, eventually, startBroker, take, uniqueName, uniqueTopic } from "./_helpers.ts";

/** A broker with its web listener, its HTTP base URL, and a native client. */
interface Env extends AsyncDisposable {
  broker: Awaited<ReturnType<typeof startBroker>>;
  http: string;
  port: number;
  mb: Client;
}

async function open(options: BrokerOptions = {}): Promise<Env> {
  const broker = await startBroker({ httpPort: 0, ...options });
  const web = broker.addresses.find((address) => address.transport === "http");
  assert.ok(web !== undefined, "the broker has a web listener");
  const mb = await connect(broker.url, { token: options.token });
  return {
    broker,
    http: web.url,
    port: web.port!,
    mb,
    async [Symbol.asyncDispose]() {
      await mb.close();
      await broker.stop();
    },
  };
}

/** Sends a request and reads the JSON answer. */
async function call(
  env: Env,
  method: string,
  path: string,
  init: { body?: BodyInit; headers?: HeadersInit } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(env.http + path, { method, ...init });
  const text = await response.text();
  return {
    status: response.status,
    body: text === "" ? {} : JSON.parse(text),
    headers: response.headers,
  };
}

function errorCode(body: Record<string, unknown>): string | undefined {
  return (body.error as { code?: string } | undefined)?.code;
}

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Parses a Server-Sent Events body into events (comments skipped). */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  let buffered = "";
  for await (const text of body.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event: SseEvent = { event: "message", data: "" };
      let any = false;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(": ");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 2);
        if (field === "id") event.id = value;
        else if (field === "event") event.event = value;
        else if (field === "data") event.data += value;
        any = true;
      }
      if (any) yield event;
    }
  }
}

/** An open SSE subscription: its events, and `close()` that ends it and waits for the broker. */
async function subscribe(
  env: Env,
  query: string,
  headers: HeadersInit = {},
): Promise<{ events: AsyncGenerator<SseEvent>; response: Response; close(): Promise<void> }> {
  const before = env.broker.stats().subscriptions;
  const controller = new AbortController();
  const response = await fetch(`${env.http}/v1/subscribe?${query}`, {
    headers,
    signal: controller.signal,
  });
  assert.equal(response.status, 200, `subscribe ${query}`);
  assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const events = sseEvents(response.body!);
  return {
    events,
    response,
    async close() {
      const open = env.broker.stats().subscriptions;
      controller.abort();
      await events.return(undefined).catch(() => {});
      // The broker notices the client is gone and unsubscribes (unless it
      // already did).
      if (!query.includes("stream=") && open > before) {
        await eventually(
          () => env.broker.stats().subscriptions < open,
          5000,
          "the SSE subscription to end",
        );
      }
    },
  };
}

function json(event: SseEvent): Record<string, unknown> {
  return JSON.parse(event.data);
}

const encoder = new TextEncoder();

Deno.test("HttpApi publish delivers to a native subscriber with topic, headers and reply-to", async () => {
  await using env = await open();
  const sub = env.mb.subscribe("http/#");
  await env.mb.flush();
  const messages = sub[Symbol.asyncIterator]();
  const answer = await call(env, "POST", "/v1/topics/http/caf%C3%A9/a%20b?reply_to=replies/1", {
    body: "22.5",
    headers: { "mb-header-unit": "C", "mb-header-trace": "t1", "content-type": "text/plain" },
  });
  assert.equal(answer.status, 202);
  assert.deepEqual(answer.body, {});
  const [message] = await take(messages, 1, 5000, "the published message");
  assert.equal(message.topic, "http/café/a b");
  assert.equal(message.text(), "22.5");
  assert.equal(message.replyTo, "replies/1");
  assert.deepEqual(message.headers, { unit: "C", trace: "t1" });
  await sub.unsubscribe();
});

Deno.test("HttpApi publish refuses bad topics like a native publish", async () => {
  await using env = await open();
  for (
    const [path, code] of [
      ["/v1/topics/%24SYS/x", "TOPIC_INVALID"],
      ["/v1/topics/a/%2B", "TOPIC_INVALID"],
      ["/v1/topics/a%2Fb", "TOPIC_INVALID"],
      ["/v1/topics/a//b", "TOPIC_INVALID"],
      ["/v1/topics/a/%E0%A4%A", "INVALID_ARGUMENT"],
      ["/v1/topics/a?confirm=maybe", "INVALID_ARGUMENT"],
      ["/v1/topics/a?reply_to=a/%23", "TOPIC_INVALID"],
    ]
  ) {
    const answer = await call(env, "POST", path, { body: "x" });
    assert.equal(answer.status, 400, path);
    assert.equal(errorCode(answer.body), code, path);
  }
});

Deno.test("HttpApi confirmed publish answers the stream offset, or {} when no stream stored it", async () => {
  await using env = await open();
  const stream = uniqueName("orders");
  const topic = uniqueTopic("orders");
  const created = await call(env, "POST", "/v1/streams", {
    body: JSON.stringify({ name: stream, topics: [`${topic}/#`] }),
  });
  assert.equal(created.status, 200);
  assert.equal(created.body.name, stream);
  for (let i = 0; i < 2; i++) {
    const answer = await call(env, "POST", `/v1/topics/${topic}/${i}?confirm=true`, { body: "x" });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { offset: i, stream });
  }
  const elsewhere = await call(env, "POST", `/v1/topics/${uniqueTopic()}?confirm`, { body: "x" });
  assert.equal(elsewhere.status, 200);
  assert.deepEqual(elsewhere.body, {});
  const request = await call(env, "POST", `/v1/topics/${uniqueTopic()}?confirm=1&reply_to=r/1`, {
    body: "x",
  });
  assert.equal(request.status, 503);
  assert.equal(errorCode(request.body), "NO_RESPONDERS");
});

Deno.test("HttpApi refuses a body over maxPayloadBytes from Content-Length, without reading it", async () => {
  await using env = await open({ maxPayloadBytes: 1024 });
  const big = await call(env, "POST", `/v1/topics/${uniqueTopic()}`, { body: "x".repeat(1025) });
  assert.equal(big.status, 413);
  assert.equal(errorCode(big.body), "PAYLOAD_TOO_LARGE");
  const fits = await call(env, "POST", `/v1/topics/${uniqueTopic()}`, { body: "x".repeat(1024) });
  assert.equal(fits.status, 202);
  // A declared length over the limit is refused before any body byte is sent.
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: env.port });
  await conn.write(encoder.encode(
    `POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n`,
  ));
  const head = await readHead(conn);
  assert.match(head, /^HTTP\/1\.1 413 /);
});

Deno.test("HttpApi refuses a chunked body over the limit while it is still being sent", async () => {
  await using env = await open({ maxPayloadBytes: 4096 });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: env.port });
  await conn.write(encoder.encode(
    `POST /v1/topics/${uniqueTopic()} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`,
  ));
  // 16 KiB in 1 KiB chunks, and never the last chunk: a server that buffered
  // the whole body before checking would never answer.
  const chunk = encoder.encode(`400\r\n${"x".repeat(1024)}\r\n`);
  const writing = (async () => {
    for (let i = 0; i < 16; i++) await conn.write(chunk);
  })().catch(() => {});
  const head = await deadline(readHead(conn), 5000, "the 413 answer");
  assert.match(head, /^HTTP\/1\.1 413 /);
  await writing;
  assert.equal(env.broker.stats().messagesIn, 0);
});

/** Reads an HTTP response's status line and headers from a raw connection. */
async function readHead(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

Deno.test("HttpApi SSE delivers a native client's publish as a message event", async () => {
  await using env = await open();
  const topic = uniqueTopic("sse");
  const sse = await subscribe(env, `pattern=${encodeURIComponent(`${topic}/+`)}`);
  env.mb.publish(`${topic}/kitchen`, "22.5", { headers: { unit: "C" }, replyTo: "r/1" });
  env.mb.publish(`${topic}/bytes`, new Uint8Array([0xff, 0x00, 0xfe]));
  const events = await take(sse.events, 2, 5000, "two SSE events");
  assert.equal(events[0].event, "message");
  assert.equal(events[0].id, undefined);
  assert.deepEqual(json(events[0]), {
    topic: `${topic}/kitchen`,
    replyTo: "r/1",
    payload: "22.5",
    headers: { unit: "C" },
  });
  assert.deepEqual(json(events[1]), {
    topic: `${topic}/bytes`,
    payloadBase64: "/wD+",
    headers: {},
  });
  await sse.close();
});

Deno.test("HttpApi SSE with encoding=base64 and a queue group shares messages", async () => {
  await using env = await open();
  const topic = uniqueTopic("group");
  const a = await subscribe(env, `pattern=${topic}&queue=workers&encoding=base64`);
  const b = await subscribe(env, `pattern=${topic}&queue=workers&encoding=base64`);
  for (let i = 0; i < 20; i++) env.mb.publish(topic, `m${i}`);
  await env.mb.flush();
  // Every message goes to exactly one member: read until all 20 are seen.
  const seen: string[] = [];
  const pump = async (events: AsyncGenerator<SseEvent>) => {
    for await (const event of events) {
      seen.push(atob(json(event).payloadBase64 as string));
      if (seen.length === 20) return;
    }
  };
  await deadline(Promise.race([pump(a.events), pump(b.events)]), 5000, "20 group messages");
  // The other pump may still be waiting: its close ends it.
  await a.close();
  await b.close();
  assert.deepEqual(seen.sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
});

Deno.test("HttpApi SSE refuses bad subscriptions with 400 and 404", async () => {
  await using env = await open();
  for (
    const [query, status, code] of [
      ["", 400, "INVALID_ARGUMENT"],
      ["pattern=a/%23/b", 400, "TOPIC_INVALID"],
      ["pattern=a&queue=x/y", 400, "INVALID_ARGUMENT"],
      ["pattern=a&encoding=hex", 400, "INVALID_ARGUMENT"],
      [`stream=${uniqueName()}`, 404, "STREAM_UNKNOWN"],
    ] as const
  ) {
    const answer = await call(env, "GET", `/v1/subscribe?${query}`);
    assert.equal(answer.status, status, query);
    assert.equal(errorCode(answer.body), code, query);
  }
  assert.equal(env.broker.stats().subscriptions, 0);
});

/** Creates a stream over `topic/#` and stores `count` messages `m<i>` in it. */
async function fillStream(env: Env, count: number): Promise<{ stream: string; topic: string }> {
  const stream = uniqueName("s");
  const topic = uniqueTopic("s");
  await env.mb.streams.create({ name: stream, topics: [`${topic}/#`] });
  for (let i = 0; i < count; i++) {
    await env.mb.publish(`${topic}/${i}`, `m${i}`, { confirm: true });
  }
  return { stream, topic };
}

Deno.test("HttpApi SSE reads a stream from first with offsets as ids, then live", async () => {
  await using env = await open();
  const { stream, topic } = await fillStream(env, 3);
  const sse = await subscribe(env, `stream=${stream}&from=first`);
  const replayed = await take(sse.events, 3, 5000, "replayed events");
  assert.deepEqual(replayed.map((event) => event.id), ["0", "1", "2"]);
  const first = json(replayed[0]);
  assert.equal(first.offset, 0);
  assert.equal(typeof first.timestamp, "number");
  assert.equal(first.topic, `${topic}/0`);
  assert.equal(first.payload, "m0");
  await env.mb.publish(`${topic}/live`, "live", { confirm: true });
  const [live] = await take(sse.events, 1, 5000, "the live event");
  assert.equal(live.id, "3");
  assert.equal(json(live).payload, "live");
  await sse.close();
  await eventually(
    async () => {
      const info = await call(env, "GET", `/v1/streams/${stream}`);
      return info.body.readers === 0;
    },
    5000,
    "the stream reader to close when the client goes away",
  );
});

Deno.test("HttpApi SSE resumes a stream after Last-Event-ID, and from an ISO date", async () => {
  await using env = await open();
  const { stream, topic } = await fillStream(env, 2);
  const resumed = await subscribe(env, `stream=${stream}&from=first`, { "last-event-id": "0" });
  const [after] = await take(resumed.events, 1, 5000, "the event after 0");
  assert.equal(after.id, "1");
  await resumed.close();

  const since = new Date(Date.now() + 1).toISOString();
  await new Promise((resolve) => setTimeout(resolve, 5));
  await env.mb.publish(`${topic}/x`, "later", { confirm: true });
  const dated = await subscribe(env, `stream=${stream}&from=${encodeURIComponent(since)}`);
  const [event] = await take(dated.events, 1, 5000, "the event after the date");
  assert.equal(event.id, "2");
  await dated.close();

  for (
    const [query, headers, code] of [
      [`stream=${stream}&from=99`, {}, "OFFSET_OUT_OF_RANGE"],
      [`stream=${stream}&from=soon`, {}, "INVALID_ARGUMENT"],
      [`stream=${stream}`, { "last-event-id": "x" }, "INVALID_ARGUMENT"],
      [`stream=${stream}&queue=q`, {}, "INVALID_ARGUMENT"],
    ] as const
  ) {
    const answer = await call(env, "GET", `/v1/subscribe?${query}`, { headers });
    assert.equal(answer.status, 400, query);
    assert.equal(errorCode(answer.body), code, query);
  }
});

/** Reads every event of `events` into `into` until it ends or `stop` is seen. */
async function collect(
  events: AsyncGenerator<SseEvent>,
  into: string[],
  stop: string,
): Promise<void> {
  for (;;) {
    const next = await events.next().catch(() => ({ done: true as const, value: undefined }));
    if (next.done) return;
    const payload = json(next.value).payload as string;
    into.push(payload);
    if (payload === stop) return;
  }
}

/**
 * Publishes `count` messages of 16 KiB, one per round trip (so a reader that
 * reads keeps up), while `until` is false.
 */
async function publishSlowly(
  mb: Client,
  topic: string,
  count: number,
  until = () => false,
): Promise<number> {
  const filler = "x".repeat(16 * 1024);
  let i = 0;
  for (; i < count && !until(); i++) {
    mb.publish(topic, `${i} ${filler}`);
    await mb.flush();
  }
  return i;
}

function sequence(payloads: string[]): number[] {
  return payloads.filter((p) => p.includes(" ")).map((p) => Number(p.slice(0, p.indexOf(" "))));
}

Deno.test("HttpApi SSE drops messages for a reader that does not read, under slowConsumer drop", async () => {
  await using env = await open({ maxPendingBytes: 32 * 1024, slowConsumer: "drop" });
  const topic = uniqueTopic("slow");
  const fast = await subscribe(env, `pattern=${topic}`);
  const slow = await subscribe(env, `pattern=${topic}`);
  const fastSeen: string[] = [];
  const reading = collect(fast.events, fastSeen, "last");
  // 32 MiB: far more than the socket buffers hold, while `slow` reads nothing.
  const count = 2048;
  await publishSlowly(env.mb, topic, count);
  env.mb.publish(topic, "last");
  await deadline(reading, 10_000, "the fast reader getting everything");
  assert.deepEqual(sequence(fastSeen), Array.from({ length: count }, (_, i) => i));
  // Now the slow reader reads: messages are missing, in order, and its
  // connection is still up.
  const slowSeen: string[] = [];
  await deadline(collect(slow.events, slowSeen, "last"), 10_000, "the slow reader catching up");
  const got = sequence(slowSeen);
  assert.ok(got.length < count, `dropped some of ${count} (got ${got.length})`);
  for (let i = 1; i < got.length; i++) assert.ok(got[i] > got[i - 1], "in order");
  env.mb.publish(topic, "after");
  const [after] = await take(slow.events, 1, 5000, "a message after the drops");
  assert.equal(json(after).payload, "after");
  await fast.close();
  await slow.close();
});

Deno.test("HttpApi SSE ends the response of a reader that does not read, under slowConsumer disconnect", async () => {
  await using env = await open({ maxPendingBytes: 32 * 1024, slowConsumer: "disconnect" });
  const topic = uniqueTopic("slow");
  const fast = await subscribe(env, `pattern=${topic}`);
  const slow = await subscribe(env, `pattern=${topic}`);
  const fastSeen: string[] = [];
  const reading = collect(fast.events, fastSeen, "last");
  const sent = await publishSlowly(
    env.mb,
    topic,
    2048,
    () => env.broker.stats().subscriptions < 2,
  );
  assert.equal(env.broker.stats().subscriptions, 1, "the slow SSE reader was cut off");
  env.mb.publish(topic, "last");
  await deadline(reading, 10_000, "the fast reader getting everything");
  assert.deepEqual(sequence(fastSeen), Array.from({ length: sent }, (_, i) => i));
  // What the slow client reads ends: with the error event when it got
  // through, or cut short when the client did not take it in time.
  let last: SseEvent | undefined;
  try {
    for await (const event of slow.events) last = event;
  } catch {
    // Aborted.
  }
  if (last?.event === "error") assert.equal(json(last).code, "SLOW_CONSUMER");
  await slow.close();
  await fast.close();
});

Deno.test("HttpApi SSE stream reader that does not read is paused, not dropped", async () => {
  await using env = await open({ maxPendingBytes: 32 * 1024, slowConsumer: "drop" });
  const stream = uniqueName("big");
  const topic = uniqueTopic("big");
  await env.mb.streams.create({ name: stream, topics: [topic] });
  const payload = "y".repeat(16 * 1024);
  const count = 1024;
  for (let i = 0; i < count; i++) env.mb.publish(topic, payload);
  await env.mb.publish(topic, "end", { confirm: true });
  const sse = await subscribe(env, `stream=${stream}&from=first`);
  // Let the reader fill every buffer before reading anything.
  await new Promise((resolve) => setTimeout(resolve, 200));
  let expected = 0;
  for await (const event of sse.events) {
    assert.equal(event.id, String(expected), "no gap");
    expected++;
    if (json(event).payload === "end") break;
  }
  assert.equal(expected, count + 1);
  await sse.close();
});

Deno.test("HttpApi reads stream pages as JSON and as raw bytes", async () => {
  await using env = await open();
  const { stream, topic } = await fillStream(env, 5);
  const first = await call(env, "GET", `/v1/streams/${stream}/messages?max=2`);
  assert.equal(first.status, 200);
  assert.equal(first.body.nextOffset, 2);
  const messages = first.body.messages as Record<string, unknown>[];
  assert.deepEqual(messages.map((m) => [m.offset, m.topic, m.payload]), [
    [0, `${topic}/0`, "m0"],
    [1, `${topic}/1`, "m1"],
  ]);
  assert.equal(typeof messages[0].timestamp, "number");
  assert.deepEqual(messages[0].headers, {});
  const rest = await call(env, "GET", `/v1/streams/${stream}/messages?from=2&max=100`);
  assert.deepEqual((rest.body.messages as { offset: number }[]).map((m) => m.offset), [2, 3, 4]);
  assert.equal(rest.body.nextOffset, 5);
  const filtered = await call(
    env,
    "GET",
    `/v1/streams/${stream}/messages?pattern=${encodeURIComponent(`${topic}/3`)}`,
  );
  assert.deepEqual((filtered.body.messages as { offset: number }[]).map((m) => m.offset), [3]);
  assert.equal(filtered.body.nextOffset, 5);
  const empty = await call(env, "GET", `/v1/streams/${stream}/messages?from=new`);
  assert.deepEqual(empty.body, { messages: [], nextOffset: 5 });
  const base64 = await call(env, "GET", `/v1/streams/${stream}/messages?max=1&encoding=base64`);
  assert.equal((base64.body.messages as Record<string, unknown>[])[0].payloadBase64, btoa("m0"));

  const raw = await fetch(`${env.http}/v1/streams/${stream}/messages?from=1`, {
    headers: { accept: "application/octet-stream" },
  });
  assert.equal(raw.status, 200);
  assert.equal(await raw.text(), "m1");
  assert.equal(raw.headers.get("mb-offset"), "1");
  assert.equal(raw.headers.get("mb-next-offset"), "2");
  assert.equal(raw.headers.get("mb-topic"), `${topic}/1`);
  const none = await fetch(`${env.http}/v1/streams/${stream}/messages?from=new&encoding=raw`);
  assert.equal(none.status, 204);
  await none.body?.cancel();

  for (
    const [query, status, code] of [
      ["max=0", 400, "INVALID_ARGUMENT"],
      ["max=1001", 400, "INVALID_ARGUMENT"],
      ["from=yesterday", 400, "INVALID_ARGUMENT"],
      ["from=6", 400, "OFFSET_OUT_OF_RANGE"],
      ["pattern=a/%23/b", 400, "TOPIC_INVALID"],
    ] as const
  ) {
    const answer = await call(env, "GET", `/v1/streams/${stream}/messages?${query}`);
    assert.equal(answer.status, status, query);
    assert.equal(errorCode(answer.body), code, query);
  }
  const unknown = await call(env, "GET", `/v1/streams/${uniqueName()}/messages`);
  assert.equal(unknown.status, 404);
  assert.equal(errorCode(unknown.body), "STREAM_UNKNOWN");
});

Deno.test("HttpApi administers streams: create, list, info, purge, delete, conflicts", async () => {
  await using env = await open();
  const name = uniqueName("admin");
  const config = { name, topics: [`${uniqueTopic()}/#`], maxMsgs: 10 };
  const created = await call(env, "POST", "/v1/streams", { body: JSON.stringify(config) });
  assert.equal(created.status, 200);
  assert.equal(created.body.messages, 0);
  const again = await call(env, "POST", "/v1/streams", { body: JSON.stringify(config) });
  assert.equal(again.status, 200);
  const conflict = await call(env, "POST", "/v1/streams", {
    body: JSON.stringify({ ...config, maxMsgs: 20 }),
  });
  assert.equal(conflict.status, 409);
  assert.equal(errorCode(conflict.body), "ALREADY_EXISTS");
  const list = await call(env, "GET", "/v1/streams");
  assert.ok((list.body.streams as { name: string }[]).some((s) => s.name === name));
  await env.mb.publish(config.topics[0].replace("#", "a"), "x", { confirm: true });
  const info = await call(env, "GET", `/v1/streams/${name}`);
  assert.equal(info.body.messages, 1);
  const purged = await call(env, "POST", `/v1/streams/${name}/purge`);
  assert.deepEqual(purged.body, { purged: 1 });
  const deleted = await call(env, "DELETE", `/v1/streams/${name}`);
  assert.deepEqual(deleted.body, { deleted: true });
  const gone = await call(env, "GET", `/v1/streams/${name}`);
  assert.equal(gone.status, 404);
  assert.equal(errorCode(gone.body), "STREAM_UNKNOWN");
  for (
    const body of [
      "{",
      "[1]",
      JSON.stringify({ name: "../x", topics: ["a"] }),
      JSON.stringify({ name: "x" }),
    ]
  ) {
    const bad = await call(env, "POST", "/v1/streams", { body });
    assert.equal(bad.status, 400, body);
    assert.equal(errorCode(bad.body), "INVALID_ARGUMENT", body);
  }
});

Deno.test("HttpApi administers queues: declare, list, info, purge, delete", async () => {
  await using env = await open();
  const name = uniqueName("q");
  const declared = await call(env, "PUT", `/v1/queues/${name}`, {
    body: JSON.stringify({ ackWaitMs: 1000 }),
  });
  assert.equal(declared.status, 200);
  assert.equal(declared.body.name, name);
  assert.equal(declared.body.ackWaitMs, 1000);
  const plain = await call(env, "PUT", `/v1/queues/${uniqueName("q")}`);
  assert.equal(plain.status, 200);
  const mismatch = await call(env, "PUT", `/v1/queues/${name}`, {
    body: JSON.stringify({ name: "other" }),
  });
  assert.equal(mismatch.status, 400);
  const list = await call(env, "GET", "/v1/queues");
  assert.ok((list.body.queues as { name: string }[]).some((q) => q.name === name));
  await call(env, "POST", `/v1/queues/${name}/messages`, { body: "job" });
  assert.equal((await call(env, "GET", `/v1/queues/${name}`)).body.messages, 1);
  assert.deepEqual((await call(env, "POST", `/v1/queues/${name}/purge`)).body, { purged: 1 });
  assert.deepEqual((await call(env, "DELETE", `/v1/queues/${name}`)).body, { deleted: true });
  const gone = await call(env, "GET", `/v1/queues/${name}`);
  assert.equal(gone.status, 404);
  assert.equal(errorCode(gone.body), "QUEUE_UNKNOWN");
});

Deno.test("HttpApi queues: send, fetch, ack, nack, redelivery after ackWaitMs, long poll", async () => {
  await using env = await open();
  const name = uniqueName("jobs");
  await call(env, "PUT", `/v1/queues/${name}`, { body: JSON.stringify({ ackWaitMs: 300 }) });
  const sent = [];
  for (const body of ["a", "b"]) {
    const answer = await call(env, "POST", `/v1/queues/${name}/messages?topic=jobs/new`, {
      body,
      headers: { "mb-header-kind": "test" },
    });
    assert.equal(answer.status, 200);
    sent.push(answer.body.id as number);
  }
  const fetched = await call(env, "POST", `/v1/queues/${name}/fetch`, {
    body: JSON.stringify({ max: 10 }),
  });
  const messages = fetched.body.messages as Record<string, unknown>[];
  assert.deepEqual(messages.map((m) => [m.id, m.deliveryCount, m.topic, m.payload]), [
    [sent[0], 1, "jobs/new", "a"],
    [sent[1], 1, "jobs/new", "b"],
  ]);
  assert.deepEqual(messages[0].headers, { kind: "test" });
  // Any request may settle what any HTTP fetch took.
  const acked = await call(env, "POST", `/v1/queues/${name}/ack`, {
    body: JSON.stringify({ id: sent[0] }),
  });
  assert.equal(acked.status, 200);
  const twice = await call(env, "POST", `/v1/queues/${name}/ack?id=${sent[0]}`);
  assert.equal(twice.status, 404);
  assert.equal(errorCode(twice.body), "MESSAGE_UNKNOWN");
  const nacked = await call(env, "POST", `/v1/queues/${name}/nack?id=${sent[1]}&delayMs=0`);
  assert.equal(nacked.status, 200);
  const again = await call(env, "POST", `/v1/queues/${name}/fetch?max=10&waitMs=2000`);
  assert.deepEqual((again.body.messages as Record<string, unknown>[]).map((m) => m.deliveryCount), [
    2,
  ]);
  // Not acked: delivered again after ackWaitMs.
  const later = await call(env, "POST", `/v1/queues/${name}/fetch`, {
    body: JSON.stringify({ waitMs: 3000 }),
  });
  assert.deepEqual((later.body.messages as Record<string, unknown>[]).map((m) => m.deliveryCount), [
    3,
  ]);
  await call(env, "POST", `/v1/queues/${name}/ack`, { body: JSON.stringify({ id: sent[1] }) });

  // A long poll answers when a message arrives.
  const polling = fetch(`${env.http}/v1/queues/${name}/fetch`, {
    method: "POST",
    body: JSON.stringify({ waitMs: 5000, encoding: "raw" }),
  });
  await eventually(
    async () => {
      const info = await call(env, "GET", `/v1/queues/${name}`);
      return info.body.consumers === 1;
    },
    5000,
    "the long poll waiting",
  );
  await env.mb.queues.send(name, "c");
  const raw = await fetch(`${env.http}/v1/queues/${name}/fetch?waitMs=0`, {
    method: "POST",
    headers: { accept: "application/octet-stream" },
  });
  assert.equal(raw.status, 204);
  await raw.body?.cancel();
  const polled = await polling;
  assert.equal(polled.status, 200);
  assert.equal(await polled.text(), "c");
  await call(env, "POST", `/v1/queues/${name}/ack?id=${polled.headers.get("mb-message-id")}`);
  const empty = await call(env, "POST", `/v1/queues/${name}/fetch`);
  assert.deepEqual(empty.body, { messages: [] });
  for (
    const [path, body, status, code] of [
      ["fetch", { max: 0 }, 400, "INVALID_ARGUMENT"],
      ["fetch", { waitMs: -1 }, 400, "INVALID_ARGUMENT"],
      ["ack", {}, 400, "INVALID_ARGUMENT"],
      ["nack", { id: 1, delayMs: "soon" }, 400, "INVALID_ARGUMENT"],
    ] as const
  ) {
    const answer = await call(env, "POST", `/v1/queues/${name}/${path}`, {
      body: JSON.stringify(body),
    });
    assert.equal(answer.status, status, `${path} ${JSON.stringify(body)}`);
    assert.equal(errorCode(answer.body), code);
  }
  const unknown = await call(env, "POST", `/v1/queues/${uniqueName()}/messages`, { body: "x" });
  assert.equal(unknown.status, 404);
  assert.equal(errorCode(unknown.body), "QUEUE_UNKNOWN");
});

Deno.test("HttpApi raw fetch answers the payload with its fields in mb-* headers", async () => {
  await using env = await open();
  const name = uniqueName("raw");
  await env.mb.queues.declare(name);
  await env.mb.queues.send(name, new Uint8Array([1, 2, 3]), { headers: { kind: "bin" } });
  const raw = await fetch(`${env.http}/v1/queues/${name}/fetch?encoding=raw`, { method: "POST" });
  assert.equal(raw.status, 200);
  assert.deepEqual(new Uint8Array(await raw.arrayBuffer()), new Uint8Array([1, 2, 3]));
  assert.equal(raw.headers.get("mb-delivery-count"), "1");
  assert.equal(raw.headers.get("mb-header-kind"), "bin");
  const id = raw.headers.get("mb-message-id");
  const acked = await call(env, "POST", `/v1/queues/${name}/ack?id=${id}`);
  assert.equal(acked.status, 200);
});

Deno.test("HttpApi answers unknown routes 404 and wrong methods 405, as JSON", async () => {
  await using env = await open();
  const missing = await call(env, "GET", "/v1/nothing");
  assert.equal(missing.status, 404);
  assert.equal(errorCode(missing.body), "NOT_FOUND");
  const wrong = await call(env, "PATCH", "/v1/streams");
  assert.equal(wrong.status, 405);
  assert.equal(errorCode(wrong.body), "METHOD_NOT_ALLOWED");
  assert.equal(wrong.headers.get("allow"), "GET, POST");
  const get = await call(env, "GET", "/v1/topics/a");
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
});

Deno.test("HttpApi with a token requires Authorization: Bearer", async () => {
  await using env = await open({ token: "s3cret" });
  const none = await call(env, "GET", "/v1/streams");
  assert.equal(none.status, 401);
  assert.equal(errorCode(none.body), "AUTH_FAILED");
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  const wrong = await call(env, "POST", `/v1/topics/${uniqueTopic()}`, {
    body: "x",
    headers: { authorization: "Bearer s3cre" },
  });
  assert.equal(wrong.status, 401);
  const basic = await call(env, "GET", "/v1/streams", {
    headers: { authorization: "Basic s3cret" },
  });
  assert.equal(basic.status, 401);
  const right = await call(env, "GET", "/v1/streams", {
    headers: { authorization: "Bearer s3cret" },
  });
  assert.equal(right.status, 200);
  const unknown = await call(env, "GET", "/v1/nothing");
  assert.equal(unknown.status, 401);
  // The API's description is public.
  const doc = await call(env, "GET", "/v1/openapi.json");
  assert.equal(doc.status, 200);
  assert.deepEqual(doc.body.security, [{ bearer: [] }]);
});

/** A sample request path for an OpenAPI path template. */
function samplePath(template: string): string {
  return template
    .replace("{topic}", "openapi/probe")
    .replace("{name}", "openapi-probe");
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"];

Deno.test("HttpApi OpenAPI document covers every route the server answers, and each documented route answers", async () => {
  await using env = await open();
  const doc = await call(env, "GET", "/v1/openapi.json");
  assert.equal(doc.status, 200);
  assert.equal(doc.body.openapi, "3.1.0");
  const paths = doc.body.paths as Record<string, Record<string, unknown>>;
  const templates = Object.keys(paths);
  const documented = (method: string, path: string) =>
    templates.some((template) => {
      if (!(method.toLowerCase() in paths[template])) return false;
      const pattern = template.replace("{topic}", ".+").replace(/\{[^}]+\}/g, "[^/]+");
      return new RegExp(`^${pattern}$`).test(path);
    });
  const probe = async (method: string, path: string) => {
    const response = await fetch(`${env.http}${path}`, {
      method,
      body: method === "GET" || method === "DELETE" ? undefined : "{}",
      signal: AbortSignal.timeout(5000),
    });
    const type = response.headers.get("content-type") ?? "";
    const code = type.startsWith("application/json")
      ? errorCode(await response.json())
      : (await response.body?.cancel(), undefined);
    return { status: response.status, code };
  };
  // Every documented operation is answered by a handler (an error from the
  // handler, such as an unknown stream, is fine; no route or method is not).
  for (const template of templates) {
    for (const method of Object.keys(paths[template])) {
      const path = samplePath(template) + (template === "/v1/subscribe" ? "?pattern=x" : "");
      if (template === "/v1/subscribe") {
        const sse = await subscribe(env, "pattern=openapi/x");
        await sse.close();
        continue;
      }
      const { code } = await probe(method.toUpperCase(), path);
      assert.ok(code !== "NOT_FOUND" && code !== "METHOD_NOT_ALLOWED", `${method} ${path}`);
    }
  }
  // Every path and method the server answers (not 404 NOT_FOUND or 405) is documented.
  const candidates = [
    ...templates.map(samplePath),
    "/",
    "/v1",
    "/v1/",
    "/v1/topics",
    "/v1/topics/",
    "/v1/topics/a/b/c",
    "/v1/health",
    "/v1/streams/x/y",
    "/v1/streams/x/messages/y",
    "/v1/queues/x/y",
    "/v1/queues/x/messages/y",
    "/v1/subscribe/x",
    "/v2/streams",
  ];
  for (const path of candidates) {
    for (const method of METHODS) {
      if (path === "/v1/subscribe" && method === "GET") continue;
      const { status, code } = await probe(method, path);
      if (code === "NOT_FOUND" || code === "METHOD_NOT_ALLOWED") {
        assert.ok(!documented(method, path), `${method} ${path} is documented but not answered`);
        assert.ok(status === 404 || status === 405);
        continue;
      }
      assert.ok(documented(method, path), `${method} ${path} answers ${status} undocumented`);
    }
  }
});

Deno.test("HttpApi sends heartbeats; close ends open SSE responses and refuses new requests", async () => {
  await using store = await DurableStore.open();
  const router = new Router();
  const api = new HttpApi({
    router,
    store,
    maxPayloadBytes: 1024,
    maxPendingBytes: 65536,
    slowConsumer: "disconnect",
    heartbeatMs: 50,
  });
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => api.handle(request),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const response = await fetch(`${base}/v1/subscribe?pattern=a`);
  const [raw, body] = response.body!.tee();
  const events = sseEvents(body);
  assert.equal(api.stats().sseResponses, 1);
  // Idle, it sends comment heartbeats.
  const text = raw.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(": heartbeat\n\n")) seen += (await text.read()).value ?? "";
  await text.cancel();
  const posted = await fetch(`${base}/v1/topics/a`, { method: "POST", body: "x" });
  await posted.body?.cancel();
  const [event] = await take(events, 1, 5000, "one event");
  assert.equal(json(event).payload, "x");
  await deadline(api.close(), 5000, "HttpApi.close");
  assert.equal(api.stats().sseResponses, 0);
  assert.equal(router.stats().subscriptions, 0);
  const rest = await deadline(Array.fromAsync(events), 5000, "the SSE body to end");
  assert.deepEqual(rest, []);
  const refused = await fetch(`${base}/v1/streams`);
  assert.equal(refused.status, 503);
  assert.equal(errorCode(await refused.json()), "SERVER_SHUTDOWN");
});

Deno.test("HttpApi SSE sends an event larger than maxPendingBytes when nothing waits, live and from a stream", async () => {
  // JSON of control characters is about 6 times the payload.
  await using env = await open({ maxPayloadBytes: 65536, maxPendingBytes: 262144 });
  const stream = uniqueName("big");
  const topic = uniqueTopic("big");
  await env.mb.streams.create({ name: stream, topics: [`${topic}/#`] });
  const live = await subscribe(env, `pattern=${encodeURIComponent(`${topic}/#`)}`);
  const replay = await subscribe(env, `stream=${stream}&from=first`);
  const big = "\x01".repeat(60_000);
  await env.mb.publish(`${topic}/big`, big, { confirm: true });
  await env.mb.publish(`${topic}/small`, "after", { confirm: true });
  for (const sse of [live, replay]) {
    const events = await take(sse.events, 2, 10_000, "the big event and the next");
    assert.deepEqual(events.map((event) => event.event), ["message", "message"]);
    assert.equal(json(events[0]).payload, big);
    assert.equal(json(events[1]).payload, "after");
    await sse.close();
  }
});

Deno.test("HttpApi publish keeps '.' and '..' topic levels as sent instead of resolving them", async () => {
  await using env = await open();
  const stream = uniqueName("dots");
  await env.mb.streams.create({ name: stream, topics: ["dots/#"] });
  // On a raw socket: fetch() would resolve the dot segments before sending.
  for (const path of ["dots/a/../b", "dots/a/%2e%2e/b", "dots/a/%2E/b"]) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: env.port });
    await conn.write(
      new TextEncoder().encode(
        `POST /v1/topics/${path}?confirm=true HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          "Content-Length: 1\r\nConnection: close\r\n\r\nx",
      ),
    );
    const answer = await new Response(conn.readable).text();
    assert.match(answer, /^HTTP\/1\.1 200/, path);
  }
  const page = await call(env, "GET", `/v1/streams/${stream}/messages?from=first`);
  const topics = (page.body.messages as { topic: string }[]).map((message) => message.topic);
  assert.deepEqual(topics, ["dots/a/../b", "dots/a/../b", "dots/a/./b"]);
});

/** Sends a raw HTTP/1.1 request and returns the status line's code. */
async function rawStatus(port: number, head: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const reader = conn.readable.getReader();
    let text = "";
    while (!text.includes("\r\n")) {
      const { value, done } = await deadline(reader.read(), 5000, "the status line");
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    return Number(text.split(" ")[1]);
  } finally {
    conn.close();
  }
}

Deno.test("Web listener refuses WebSockets and POSTs from other sites' pages unless allowedOrigins lists them", async () => {
  const upgrade = (port: number, origin: string) =>
    rawStatus(
      port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${origin}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mb.v1\r\n\r\n",
    );
  const publish = (port: number, origin: string) =>
    rawStatus(
      port,
      `POST /v1/topics/web/origin HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${origin}\r\n` +
        "Content-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    );
  {
    await using env = await open();
    assert.equal(await upgrade(env.port, "https://evil.example"), 403);
    assert.equal(await publish(env.port, "https://evil.example"), 403);
    assert.equal(await upgrade(env.port, `http://127.0.0.1:${env.port}`), 101, "own page");
    assert.equal(await publish(env.port, `http://127.0.0.1:${env.port}`), 202, "own page");
    assert.equal((await call(env, "POST", "/v1/topics/web/origin", { body: "x" })).status, 202);
  }
  await using env = await open({ allowedOrigins: ["https://app.example"] });
  assert.equal(await upgrade(env.port, "https://app.example"), 101);
  assert.equal(await publish(env.port, "https://app.example"), 202);
  assert.equal(await publish(env.port, "https://evil.example"), 403);
});

Deno.test("HttpApi caps a fetch answer near 1 MiB and leaves the rest in the queue at once", async () => {
  await using env = await open({ maxPayloadBytes: 600_000 });
  const queue = uniqueName("big");
  assert.equal((await call(env, "PUT", `/v1/queues/${queue}`, { body: "{}" })).status, 200);
  // Four messages of 500 kB: an answer stops after about 1 MiB; ackWaitMs is
  // 30 s, so the next fetch gets the rest only if they were given back.
  for (let i = 0; i < 4; i++) {
    await call(env, "POST", `/v1/queues/${queue}/messages`, { body: "x".repeat(500_000) });
  }
  const page = await call(env, "POST", `/v1/queues/${queue}/fetch`, {
    body: JSON.stringify({ max: 10 }),
  });
  assert.equal((page.body.messages as unknown[]).length, 3);
  const rest = await call(env, "POST", `/v1/queues/${queue}/fetch`, {
    body: JSON.stringify({ max: 10 }),
  });
  assert.equal((rest.body.messages as unknown[]).length, 1);
});
