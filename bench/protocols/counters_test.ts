// Copyright mb authors. MIT license.
// The load generator's counters must count the same whatever way the byte
// stream is cut: whole, one byte at a time, and at every split point.

import assert from "node:assert/strict";
import { encodeFrame } from "../../protocol/encode.ts";
import { FrameType } from "../../protocol/frames.ts";
import { bytesOf, concat } from "./_ascii.ts";
import { httpPublishRequests, HttpResponseCounter } from "./http.ts";
import { PROTOCOLS, type WireCounter } from "./mod.ts";

interface Expected {
  delivered: number;
  replies: number;
  pingsDue: number;
  errors: number;
}

function counts(counter: WireCounter): Expected {
  return {
    delivered: counter.delivered,
    replies: counter.replies,
    pingsDue: counter.pingsDue,
    errors: counter.errors,
  };
}

/** Feeds `stream` through a fresh counter in pieces cut at `cuts`, via a reused buffer. */
function feed(make: () => WireCounter, stream: Uint8Array, cuts: number[]): Expected {
  const counter = make();
  const buf = new Uint8Array(stream.length + 16).fill(0x0a); // stale bytes past `end`
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    buf.set(stream.subarray(start, cut), 0);
    counter.feed(buf, 0, cut - start);
    start = cut;
  }
  return counts(counter);
}

function assertEveryChunking(make: () => WireCounter, stream: Uint8Array, expected: Expected) {
  assert.deepEqual(feed(make, stream, []), expected, "whole");
  const bytes = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(feed(make, stream, bytes), expected, "one byte at a time");
  for (let cut = 1; cut < stream.length; cut++) {
    assert.deepEqual(feed(make, stream, [cut]), expected, `split at ${cut}`);
  }
}

const payload = new Uint8Array(300).fill(0x0d); // CRs and a long body: must be skipped by length

Deno.test("MbCounter counts Info, Ok, Deliver and Ping frames however the stream is cut", () => {
  const deliver = encodeFrame({
    type: FrameType.Deliver,
    sid: 1,
    topic: "bench/t",
    replyTo: "",
    headers: undefined,
    payload,
  });
  const stream = concat([
    encodeFrame({
      type: FrameType.Info,
      version: 1,
      info: {
        serverId: "s",
        serverVersion: "0",
        clientId: 1,
        maxPayloadBytes: 1,
        maxFrameBytes: 1,
        maxSubscriptions: 1,
        pingIntervalMs: 1,
      },
    }),
    encodeFrame({ type: FrameType.Ok, requestId: 1, result: new Uint8Array() }),
    deliver,
    encodeFrame({ type: FrameType.Ping }),
    deliver,
    deliver,
  ]);
  assertEveryChunking(PROTOCOLS.mb.newCounter, stream, {
    delivered: 3,
    replies: 2,
    pingsDue: 1,
    errors: 0,
  });
});

Deno.test("MbCounter reports an Error frame with its code", () => {
  const counter = PROTOCOLS.mb.newCounter();
  const frame = encodeFrame({
    type: FrameType.Error,
    requestId: 0,
    code: "SLOW_CONSUMER",
    message: "too slow",
  });
  counter.feed(frame, 0, frame.length);
  assert.equal(counter.errors, 1);
  assert.equal(counter.firstError, "SLOW_CONSUMER: too slow");
});

Deno.test("NatsCounter counts MSG, PONG and PING lines however the stream is cut", () => {
  const msg = concat([bytesOf("MSG bench.t 1 300\r\n"), payload, bytesOf("\r\n")]);
  const stream = concat([
    bytesOf('INFO {"server_id":"x"}\r\n'),
    bytesOf("PONG\r\n"),
    msg,
    bytesOf("PING\r\n"),
    concat([bytesOf("MSG bench.t 2 reply.to 0\r\n\r\n")]),
    msg,
    bytesOf("+OK\r\n"),
  ]);
  assertEveryChunking(PROTOCOLS.nats.newCounter, stream, {
    delivered: 3,
    replies: 1,
    pingsDue: 1,
    errors: 0,
  });
});

Deno.test("MqttCounter counts PUBLISH packets however the stream is cut", () => {
  const big = PROTOCOLS.mqtt.publishes(["bench/t"], new Uint8Array(70_000), 1); // 3-byte length
  const small = PROTOCOLS.mqtt.publishes(["bench/t"], payload, 1);
  const stream = concat([
    new Uint8Array([0x20, 0x02, 0x00, 0x00]), // CONNACK accepted
    new Uint8Array([0x90, 0x03, 0x00, 0x01, 0x00]), // SUBACK granted QoS 0
    small,
    new Uint8Array([0xd0, 0x00]), // PINGRESP
    small,
  ]);
  assertEveryChunking(PROTOCOLS.mqtt.newCounter, stream, {
    delivered: 2,
    replies: 2,
    pingsDue: 0,
    errors: 0,
  });
  const counter = PROTOCOLS.mqtt.newCounter();
  const both = concat([big, small]);
  counter.feed(both, 0, 70_000);
  counter.feed(both.subarray(70_000), 0, both.length - 70_000);
  assert.equal(counter.delivered, 2);
});

Deno.test("RedisCounter counts message and pmessage pushes however the stream is cut", () => {
  const bulk = (bytes: Uint8Array) =>
    concat([bytesOf(`$${bytes.length}\r\n`), bytes, bytesOf("\r\n")]);
  const message = concat([
    bytesOf("*3\r\n"),
    bulk(bytesOf("message")),
    bulk(bytesOf("bench:t")),
    bulk(payload),
  ]);
  const pmessage = concat([
    bytesOf("*4\r\n"),
    bulk(bytesOf("pmessage")),
    bulk(bytesOf("bench:*")),
    bulk(bytesOf("bench:t")),
    bulk(payload),
  ]);
  const stream = concat([
    bytesOf("+PONG\r\n"),
    bytesOf("*3\r\n$9\r\nsubscribe\r\n$7\r\nbench:t\r\n:1\r\n"),
    bytesOf("*3\r\n$10\r\npsubscribe\r\n$7\r\nbench:*\r\n:2\r\n"),
    message,
    pmessage,
    bytesOf(":1\r\n"),
    message,
  ]);
  assertEveryChunking(PROTOCOLS.redis.newCounter, stream, {
    delivered: 3,
    replies: 4,
    pingsDue: 0,
    errors: 0,
  });
});

Deno.test("RedisCounter and NatsCounter report errors", () => {
  const redis = PROTOCOLS.redis.newCounter();
  const redisError = bytesOf("-ERR unknown command\r\n");
  redis.feed(redisError, 0, redisError.length);
  assert.equal(redis.errors, 1);
  assert.equal(redis.firstError, "-ERR unknown command");
  const nats = PROTOCOLS.nats.newCounter();
  const natsError = bytesOf("-ERR 'Slow Consumer'\r\n");
  nats.feed(natsError, 0, natsError.length);
  assert.equal(nats.errors, 1);
  assert.equal(nats.firstError, "-ERR 'Slow Consumer'");
});

Deno.test("HttpResponseCounter counts 202 responses however the stream is cut", () => {
  const accepted = bytesOf(
    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\ncontent-length: 2\r\n" +
      "date: Mon, 23 Nov 2026 22:56:16 GMT\r\n\r\n{}",
  );
  const empty = bytesOf("HTTP/1.1 202 Accepted\r\nCONTENT-LENGTH:0\r\n\r\n");
  const withBody = concat([
    bytesOf("HTTP/1.1 202 Accepted\r\nContent-Length: 300\r\n\r\n"),
    payload, // CRs: must be skipped by length
  ]);
  const stream = concat([accepted, empty, withBody, accepted]);
  assertEveryChunking(() => new HttpResponseCounter(202), stream, {
    delivered: 0,
    replies: 4,
    pingsDue: 0,
    errors: 0,
  });
});

Deno.test("HttpResponseCounter reports another status with its body, and a chunked response", () => {
  const counter = new HttpResponseCounter(202);
  const body = '{"error":{"code":"INVALID_ARGUMENT","message":"bad topic"}}';
  const stream = bytesOf(
    `HTTP/1.1 400 Bad Request\r\ncontent-length: ${body.length}\r\n\r\n${body}` +
      "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}",
  );
  counter.feed(stream, 0, stream.length);
  assert.equal(counter.errors, 1);
  assert.equal(counter.replies, 1);
  assert.equal(counter.firstError, `HTTP/1.1 400 Bad Request: ${body}`);
  const chunked = new HttpResponseCounter(202);
  const response = bytesOf("HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n");
  chunked.feed(response, 0, response.length);
  assert.equal(chunked.errors, 1);
  assert.equal(chunked.replies, 0);
});

Deno.test("httpPublishRequests pre-encodes keep-alive POSTs to /v1/topics/{topic}", () => {
  const requests = httpPublishRequests("127.0.0.1:4180", "bench/t", bytesOf("ab"), 2);
  const one = "POST /v1/topics/bench/t HTTP/1.1\r\nHost: 127.0.0.1:4180\r\n" +
    "Content-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nab";
  assert.equal(new TextDecoder().decode(requests), one + one);
});
