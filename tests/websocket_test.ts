// Copyright mb authors. MIT license.
// mb over WebSocket on the broker's web listener: the same sessions as TCP,
// binary messages carrying any chunking of the byte stream, documented close
// codes, slow consumers, goodbye on stop, and the listener's other routes.

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import {
  AckAction,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
} from "../protocol/mod.ts";
import { parseServerArgs, toServerConfig } from "../server/config.ts";
import { type BrokerOptions, WS_PROTOCOL, WsCloseCode } from "../server/mod.ts";
import {
  deadline,
  eventually,
  spawnServer,
  startBroker,
  testCertificate,
  uniqueName,
  uniqueTopic,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Starts a broker with a web listener on a free port. */
async function startWebBroker(options: BrokerOptions = {}) {
  const broker = await startBroker({ httpPort: 0, ...options });
  const web = broker.addresses.find((a) => a.transport === "http" || a.transport === "https");
  assert.ok(web !== undefined, "the broker lists its web listener");
  return Object.assign(broker, {
    httpUrl: web.url,
    wsUrl: web.url.replace(/^http/, "ws"),
    httpPort: web.port!,
  });
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function hello(token?: string): Uint8Array {
  return encodeFrame({ type: FrameType.Hello, version: PROTOCOL_VERSION, hello: { token } });
}

function publish(topic: string, text: string, requestId = 0): Uint8Array {
  return encodeFrame({
    type: FrameType.Publish,
    requestId,
    topic,
    replyTo: "",
    headers: undefined,
    payload: encoder.encode(text),
  });
}

/** A browser-style WebSocket client that speaks mb frames by hand. */
class WsClient implements AsyncDisposable {
  socket: WebSocket;
  /** The close event, whoever closes. */
  closed: Promise<CloseEvent>;
  #frames: ReadableStreamDefaultReader<Frame>;

  constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    const bytes = new ReadableStream<Uint8Array>({
      start(controller) {
        socket.addEventListener("message", (event) => {
          controller.enqueue(new Uint8Array(event.data as ArrayBuffer));
        });
        socket.addEventListener("close", () => controller.close());
      },
    });
    this.#frames = bytes.pipeThrough(new FrameDecoder({ maxFrameBytes: 1 << 24 })).getReader();
  }

  /** Opens a socket (with the mb subprotocol unless `protocols` says otherwise). */
  static async open(
    url: string,
    options: { protocols?: string[]; hello?: boolean; client?: Deno.HttpClient } = {},
  ): Promise<WsClient> {
    const socket = new WebSocket(url, {
      protocols: options.protocols ?? [WS_PROTOCOL],
      client: options.client,
    } as WebSocketOptions);
    const client = new WsClient(socket);
    await deadline(
      new Promise((resolve, reject) => {
        socket.addEventListener("open", resolve);
        socket.addEventListener("error", () => reject(new Error(`Cannot open ${url}`)));
      }),
      5000,
      "WebSocket open",
    );
    if (options.hello !== false) {
      client.send(hello());
      const info = await client.next();
      assert.equal(info?.type, FrameType.Info);
    }
    return client;
  }

  /** Sends bytes as one binary message. */
  send(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  /** The next frame, or undefined once the socket closed. */
  async next(): Promise<Frame | undefined> {
    const result = await deadline(this.#frames.read(), 5000, "next frame over the WebSocket");
    return result.done ? undefined : result.value;
  }

  /** The next `count` frames, in order. */
  async take(count: number): Promise<Frame[]> {
    const frames: Frame[] = [];
    while (frames.length < count) {
      const frame = await this.next();
      assert.ok(frame !== undefined, `socket closed after ${frames.length} of ${count} frames`);
      frames.push(frame);
    }
    return frames;
  }

  /** Asserts the close code and reason the broker closed with. */
  async expectClose(code: number, reason: string): Promise<void> {
    const event = await deadline(this.closed, 5000, `close ${code}`);
    assert.deepEqual([event.code, event.reason], [code, reason]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    await deadline(this.closed, 5000, "WebSocket close");
    await this.#frames.cancel().catch(() => {});
  }
}

/**
 * A WebSocket client on a raw TCP (or TLS) connection, for what the
 * WebSocket API cannot do: stop reading, send a request line as it is.
 */
class RawWebSocket implements AsyncDisposable {
  conn: Deno.Conn;
  #buffered: Uint8Array = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  static async open(conn: Deno.Conn, host: string): Promise<RawWebSocket> {
    const raw = new RawWebSocket(conn);
    await raw.write(encoder.encode(
      `GET /v1/ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: ${WS_PROTOCOL}\r\n\r\n`,
    ));
    const head = await raw.readHead();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /sec-websocket-protocol: mb\.v1/i);
    return raw;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.#buffered = concat(this.#buffered, chunk.subarray(0, n));
    return true;
  }

  /** Reads an HTTP response head; what follows it stays buffered. */
  async readHead(): Promise<string> {
    let end;
    while ((end = decoder.decode(this.#buffered).indexOf("\r\n\r\n")) < 0) {
      assert.ok(await this.#fill(), "connection closed inside the response head");
    }
    const head = decoder.decode(this.#buffered).slice(0, end);
    this.#buffered = this.#buffered.subarray(end + 4);
    return head;
  }

  /** Sends one masked WebSocket message (binary unless `opcode` says otherwise). */
  send(payload: Uint8Array, opcode = 2): Promise<void> {
    const length = payload.length;
    const header = length < 126
      ? [0x80 | opcode, 0x80 | length]
      : length < 65536
      ? [0x80 | opcode, 0x80 | 126, length >> 8, length & 255]
      : [
        0x80 | opcode,
        0x80 | 127,
        0,
        0,
        0,
        0,
        length >>> 24,
        (length >> 16) & 255,
        (length >> 8) & 255,
        length & 255,
      ];
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const masked = payload.map((byte, i) => byte ^ mask[i & 3]);
    return this.write(concat(new Uint8Array(header), mask, masked));
  }

  /** Reads messages until a close frame; returns its code and reason. */
  async readUntilClose(): Promise<{ code: number; reason: string; bytes: number }> {
    let bytes = 0;
    while (true) {
      const b = this.#buffered;
      if (b.length >= 2) {
        let length = b[1] & 0x7f;
        let offset = 2;
        if (length === 126 && b.length >= 4) {
          length = b[2] << 8 | b[3];
          offset = 4;
        } else if (length === 127 && b.length >= 10) {
          length = b[6] * 2 ** 24 + (b[7] << 16 | b[8] << 8 | b[9]);
          offset = 10;
        } else if (length >= 126) offset = -1;
        if (offset > 0 && b.length >= offset + length) {
          const payload = b.subarray(offset, offset + length);
          this.#buffered = b.subarray(offset + length);
          if ((b[0] & 0x0f) === 8) {
            return {
              code: payload[0] << 8 | payload[1],
              reason: decoder.decode(payload.subarray(2)),
              bytes,
            };
          }
          bytes += length;
          continue;
        }
      }
      if (!(await this.#fill())) throw new Error("connection closed without a close frame");
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch { /* closed */ }
    return Promise.resolve();
  }
}

Deno.test("Broker lists its web listener and serves the mb handshake over WebSocket", async () => {
  await using broker = await startWebBroker();
  assert.match(broker.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(broker.addresses.at(-1)?.transport, "http");
  await using ws = await WsClient.open(`${broker.wsUrl}/`);
  assert.equal(ws.socket.protocol, WS_PROTOCOL);
  await using _other = await WsClient.open(`${broker.wsUrl}/v1/ws`);
  assert.equal(broker.stats().connections, 2);
  assert.equal(broker.stats().totalConnections, 2);
});

Deno.test("Broker delivers a WebSocket publish to a TCP client and a TCP publish to a WebSocket", async () => {
  await using broker = await startWebBroker();
  await using tcp = await connect(broker.url);
  await using ws = await WsClient.open(broker.wsUrl);
  const topic = uniqueTopic("ws");
  const sub = tcp.subscribe(`${topic}/to-tcp`, { max: 1 });
  await tcp.flush();
  ws.send(publish(`${topic}/to-tcp`, "from ws", 1));
  const [ok] = await ws.take(1);
  assert.deepEqual([ok.type, ok.type === FrameType.Ok && ok.requestId], [FrameType.Ok, 1]);
  for await (const message of sub) assert.equal(message.text(), "from ws");

  ws.send(encodeFrame({
    type: FrameType.Subscribe,
    requestId: 2,
    sid: 7,
    pattern: `${topic}/to-ws`,
    queue: "",
  }));
  assert.equal((await ws.next())?.type, FrameType.Ok);
  await tcp.publish(`${topic}/to-ws`, "from tcp");
  const deliver = await ws.next();
  assert.ok(deliver?.type === FrameType.Deliver, `got ${JSON.stringify(deliver)}`);
  assert.deepEqual([deliver.sid, deliver.topic, decoder.decode(deliver.payload)], [
    7,
    `${topic}/to-ws`,
    "from tcp",
  ]);
});

Deno.test("Broker serves a stream read and a queue fetch with acks over WebSocket", async () => {
  const topic = uniqueTopic("ws-durable");
  const stream = uniqueName("wss");
  const queue = uniqueName("wsq");
  await using broker = await startWebBroker({
    streams: [{ name: stream, topics: [`${topic}/s/#`] }],
    queues: [{ name: queue, topics: [`${topic}/q/#`] }],
  });
  await using tcp = await connect(broker.url);
  for (const n of [1, 2, 3]) await tcp.publish(`${topic}/s/${n}`, `s${n}`, { confirm: true });
  for (const n of [1, 2]) await tcp.publish(`${topic}/q/${n}`, `q${n}`, { confirm: true });
  await using ws = await WsClient.open(broker.wsUrl);

  ws.send(encodeFrame({
    type: FrameType.StreamSubscribe,
    requestId: 1,
    sid: 5,
    stream,
    pattern: "",
    start: { kind: "first" },
    credit: 10,
  }));
  const streamFrames = await ws.take(4);
  assert.ok(streamFrames.some((f) => f.type === FrameType.Ok && f.requestId === 1));
  const delivered = streamFrames.flatMap((f) =>
    f.type === FrameType.StreamDeliver ? [[f.sid, f.offset, decoder.decode(f.payload)]] : []
  );
  assert.deepEqual(delivered, [[5, 0, "s1"], [5, 1, "s2"], [5, 2, "s3"]]);

  ws.send(
    encodeFrame({ type: FrameType.Fetch, requestId: 2, sid: 6, queue, max: 10, waitMs: 1000 }),
  );
  const fetched = await ws.take(3);
  assert.ok(fetched[2].type === FrameType.Ok && fetched[2].requestId === 2, "ok ends the fetch");
  const jobs = fetched.flatMap((f) => f.type === FrameType.QueueDeliver ? [f] : []);
  assert.deepEqual(jobs.map((j) => [j.sid, j.deliveryCount, decoder.decode(j.payload)]), [
    [6, 1, "q1"],
    [6, 1, "q2"],
  ]);
  ws.send(concat(...jobs.map((job, i) =>
    encodeFrame({
      type: FrameType.Ack,
      requestId: 10 + i,
      queue,
      messageId: job.messageId,
      action: AckAction.Ack,
      delayMs: 0,
    })
  )));
  const acks = await ws.take(2);
  assert.deepEqual(acks.map((f) => f.type === FrameType.Ok && f.requestId), [10, 11]);
  assert.equal((await tcp.queues.info(queue)).messages, 0);
});

Deno.test("Broker decodes several frames in one WebSocket message and one frame over two", async () => {
  await using broker = await startWebBroker();
  await using ws = await WsClient.open(broker.wsUrl, { hello: false });
  const topic = uniqueTopic("ws-chunks");
  ws.send(concat(
    hello(),
    encodeFrame({ type: FrameType.Subscribe, requestId: 1, sid: 1, pattern: topic, queue: "" }),
    encodeFrame({ type: FrameType.Ping }),
  ));
  const frames = await ws.take(3);
  assert.deepEqual(frames.map((f) => f.type), [FrameType.Info, FrameType.Ok, FrameType.Pong]);
  const split = publish(topic, "in two pieces");
  ws.send(split.subarray(0, 7));
  ws.send(split.subarray(7));
  const deliver = await ws.next();
  assert.ok(deliver?.type === FrameType.Deliver);
  assert.equal(decoder.decode(deliver.payload), "in two pieces");
});

Deno.test("Broker closes a WebSocket without the mb.v1 subprotocol with 1002", async () => {
  await using broker = await startWebBroker();
  await using ws = await WsClient.open(broker.wsUrl, { protocols: [], hello: false });
  await ws.expectClose(WsCloseCode.ProtocolError, "subprotocol mb.v1 required");
  assert.equal(broker.stats().totalConnections, 0);
});

Deno.test("Broker closes a WebSocket that sends a text message with 1003", async () => {
  await using broker = await startWebBroker();
  await using ws = await WsClient.open(broker.wsUrl);
  ws.socket.send("hello");
  await ws.expectClose(
    WsCloseCode.UnsupportedData,
    "text frames are not supported: send binary mb frames",
  );
  await eventually(() => broker.stats().connections === 0, 5000, "session closed");
});

Deno.test("Broker closes a WebSocket whose message is over maxFrameBytes plus slack with 1009", async () => {
  await using broker = await startWebBroker({ maxPayloadBytes: 1024 });
  await using ws = await WsClient.open(broker.wsUrl);
  // maxFrameBytes is 1024 + MAX_FRAME_OVERHEAD; a message may be 64 KiB more.
  const info = broker.stats();
  assert.equal(info.connections, 1);
  ws.send(new Uint8Array(1024 + 67598 + 65536 + 1));
  await ws.expectClose(WsCloseCode.MessageTooBig, "message too big");
  await eventually(() => broker.stats().connections === 0, 5000, "session closed");
});

Deno.test("Broker closes a WebSocket after a fatal error frame with 1008 and the code", async () => {
  await using broker = await startWebBroker({ token: "secret" });
  await using ws = await WsClient.open(broker.wsUrl, { hello: false });
  ws.send(hello("wrong"));
  const error = await ws.next();
  assert.ok(error?.type === FrameType.Error && error.code === "AUTH_FAILED");
  await ws.expectClose(WsCloseCode.PolicyViolation, "AUTH_FAILED");

  await using big = await WsClient.open(broker.wsUrl, { hello: false });
  big.send(new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
  const tooLarge = await big.next();
  assert.ok(tooLarge?.type === FrameType.Error && tooLarge.code === "FRAME_TOO_LARGE");
  await big.expectClose(WsCloseCode.PolicyViolation, "FRAME_TOO_LARGE");
});

Deno.test("Broker closes a WebSocket with 1000 after the client's goodbye", async () => {
  await using broker = await startWebBroker();
  await using ws = await WsClient.open(broker.wsUrl);
  ws.send(encodeFrame({ type: FrameType.Goodbye, reason: "" }));
  await ws.expectClose(WsCloseCode.Normal, "");
  await eventually(() => broker.stats().connections === 0, 5000, "session closed");
});

Deno.test("Broker counts WebSocket sessions toward maxConnections", async () => {
  await using broker = await startWebBroker({ maxConnections: 1 });
  await using tcp = await connect(broker.url);
  await using ws = await WsClient.open(broker.wsUrl, { hello: false });
  const error = await ws.next();
  assert.ok(error?.type === FrameType.Error && error.code === "CONNECTION_LIMIT");
  await ws.expectClose(WsCloseCode.PolicyViolation, "CONNECTION_LIMIT");
  await tcp.flush();
});

Deno.test("Broker disconnects a WebSocket client that stops reading as a slow consumer", async () => {
  await using broker = await startWebBroker({ maxPendingBytes: 128 * 1024 });
  await using publisher = await connect(broker.url);
  await using raw = await RawWebSocket.open(
    await Deno.connect({ hostname: "127.0.0.1", port: broker.httpPort }),
    "127.0.0.1",
  );
  const topic = uniqueTopic("ws-slow");
  await raw.send(concat(
    hello(),
    encodeFrame({ type: FrameType.Subscribe, requestId: 0, sid: 1, pattern: topic, queue: "" }),
  ));
  await eventually(() => broker.stats().subscriptions === 1, 5000, "subscription");
  // The client reads nothing from here on: the kernel's buffers fill, then
  // the socket's bufferedAmount, then the session's outbound queue.
  const payload = new Uint8Array(16 * 1024);
  for (let i = 0; i < 5000 && broker.stats().dropped === 0; i++) {
    await publisher.publish(topic, payload);
    if (i % 16 === 15) await publisher.flush();
  }
  assert.ok(broker.stats().dropped > 0, "the slow-consumer policy applied");
  await eventually(() => broker.stats().connections === 1, 10_000, "slow consumer closed");
  // Reading again, the client finds the deliveries sent before, then the close.
  const close = await deadline(raw.readUntilClose(), 10_000, "close frame");
  assert.deepEqual([close.code, close.reason], [WsCloseCode.PolicyViolation, "SLOW_CONSUMER"]);
  assert.ok(close.bytes > 1024 * 1024, `${close.bytes} bytes before the close`);
});

Deno.test("Broker stop says goodbye to WebSocket clients and closes them with 1000", async () => {
  const broker = await startWebBroker();
  await using ws = await WsClient.open(broker.wsUrl);
  await broker.stop();
  const goodbye = await ws.next();
  assert.ok(goodbye?.type === FrameType.Goodbye, `got ${JSON.stringify(goodbye)}`);
  assert.equal(goodbye.reason, "server shutting down");
  await ws.expectClose(WsCloseCode.Normal, "server shutting down");
  await assert.rejects(fetch(`${broker.httpUrl}/v1/anything`));
});

Deno.test("Broker stop ends the HTTP API's SSE responses and releases the web port", async () => {
  const broker = await startWebBroker();
  const topic = uniqueTopic("ws-sse");
  const response = await fetch(`${broker.httpUrl}/v1/subscribe?pattern=${topic}`);
  assert.equal(response.status, 200);
  const body = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  await using tcp = await connect(broker.url);
  await tcp.publish(topic, "over sse");
  let text = "";
  while (!text.includes("over sse")) {
    const { value, done } = await deadline(body.read(), 5000, "SSE event");
    assert.ok(!done, "the SSE response is open");
    text += value;
  }
  await deadline(broker.stop(), 5000, "broker stop with an SSE response open");
  while (!(await deadline(body.read(), 5000, "SSE end")).done) { /* the rest */ }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: broker.httpPort });
  listener.close();
});

Deno.test("Broker web listener hands other requests to the HTTP API and refuses path traversal", async () => {
  await using broker = await startWebBroker();
  const api = await fetch(`${broker.httpUrl}/v1/no-such-route-${crypto.randomUUID()}`);
  assert.equal(api.status, 404);
  assert.equal(typeof (await api.json()).error?.code, "string");

  for (const path of ["/examples/..%2fdeno.json", "/examples/%2e%2e/%2e%2e/deno.json"]) {
    const response = await fetch(`${broker.httpUrl}${path}`);
    const body = await response.text();
    assert.notEqual(response.status, 200, path);
    assert.ok(!body.includes('"@x/mb"'), `${path} leaked deno.json`);
  }
  const missing = await fetch(`${broker.httpUrl}/examples/no-such-file.js`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();

  // A request line with `..` as it is, which fetch() would normalize away.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: broker.httpPort });
  await using raw = new RawWebSocket(conn);
  await raw.write(encoder.encode(
    "GET /examples/../deno.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  ));
  const head = await raw.readHead();
  assert.doesNotMatch(head, /^HTTP\/1\.1 200/);
});

Deno.test("Broker web listener serves HTTPS and WSS with the TLS certificate", async () => {
  const { ca, cert, key } = await testCertificate();
  await using broker = await startWebBroker({ tls: { cert, key, port: 0 } });
  assert.match(broker.httpUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const httpsUrl = broker.httpUrl.replace("127.0.0.1", "localhost");
  using client = Deno.createHttpClient({ caCerts: [ca] });
  const response = await fetch(`${httpsUrl}/v1/no-such-route`, { client });
  assert.equal(response.status, 404);
  await response.body?.cancel();
  const tls = await Deno.connectTls({
    hostname: "localhost",
    port: broker.httpPort,
    caCerts: [ca],
  });
  await using raw = await RawWebSocket.open(tls, "localhost");
  await raw.send(concat(hello(), encodeFrame({ type: FrameType.Goodbye, reason: "" })));
  const close = await deadline(raw.readUntilClose(), 5000, "close over WSS");
  assert.equal(close.code, WsCloseCode.Normal);
});

Deno.test("mb-server prints the web listener's URL after the others, and --http-port off has none", async () => {
  {
    await using server = await spawnServer(["--host", "127.0.0.1", "--port", "0"], {
      expectUrls: 2,
    });
    assert.match(server.urls[0], /^mb:\/\//);
    assert.match(server.urls[1], /^http:\/\/127\.0\.0\.1:\d+$/);
    await using ws = await WsClient.open(server.urls[1].replace("http", "ws"));
    ws.send(encodeFrame({ type: FrameType.Ping }));
    assert.equal((await ws.next())?.type, FrameType.Pong);
  }
  const socket = `${await Deno.makeTempDir()}/mb.sock`;
  await using server = await spawnServer(
    ["--host", "127.0.0.1", "--port", "0", "--http-port", "off", "--unix", socket],
    { expectUrls: 2 },
  );
  assert.deepEqual(server.urls, [server.urls[0], `unix://${socket}`]);
  server.child.kill("SIGTERM");
  const rest: string[] = [];
  for await (const line of server.stdout) rest.push(line);
  assert.deepEqual(rest, [], "no web listener URL");
});

Deno.test("parseServerArgs takes --http-port off from flags, MB_HTTP_PORT and the config file", () => {
  const configOf = (args: string[], env: Record<string, string>, file: unknown) =>
    toServerConfig(parseServerArgs(args, env, () => JSON.stringify(file)), () => "").broker;
  assert.equal(configOf([], {}, {}).httpPort, undefined);
  assert.equal(configOf(["--http-port", "0"], {}, {}).httpPort, 0);
  assert.equal(configOf(["--http-port", "off"], {}, {}).httpPort, null);
  assert.equal(configOf([], { MB_HTTP_PORT: "off" }, {}).httpPort, null);
  assert.equal(configOf([], { MB_HTTP_PORT: "8080" }, {}).httpPort, 8080);
  for (const value of ["off", null, false]) {
    assert.equal(configOf(["--config", "x"], {}, { httpPort: value }).httpPort, null);
  }
  assert.equal(
    configOf(["--config", "x", "--http-port", "1"], {}, { httpPort: "off" }).httpPort,
    1,
  );
  assert.throws(() => configOf(["--http-port", "of"], {}, {}), /integer from 0 to 65535 or off/);
  assert.throws(() => configOf(["--port", "off"], {}, {}), /integer from 0 to 65535"?$/);
});
