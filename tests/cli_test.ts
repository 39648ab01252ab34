// Copyright mb authors. MIT license.
// End-to-end tests of the `mb` command-line client: real `deno run
// client/cli.ts` processes against an in-process broker on a free port.

import assert from "node:assert/strict";
import { connect, MbError, type Message } from "../mod.ts";
import {
  deadline,
  eventually,
  lines,
  ROOT,
  startBroker,
  stopChild,
  testCertificate,
  uniqueTopic,
} from "./_helpers.ts";

const CLI = `${ROOT}client/cli.ts`;
/** Time for a fresh `deno run` to start, connect and answer. */
const START_MS = 20_000;
/** Time for a message or an exit once the processes are up. */
const EVENT_MS = 10_000;

interface CliOptions {
  /** Text written to the child's stdin, which is then closed. */
  stdin?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** What `mb sub` prints on stderr once the broker has its subscription. */
const READY = "Subscribed to ";

/** A running `mb` process. Dispose it to kill it and release its pipes. */
interface CliProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Stdout, line by line. */
  stdout: AsyncGenerator<string>;
  /** Resolves once a stderr line starts with `prefix`; rejects if stderr ends first. */
  waitForStderr(prefix: string): Promise<void>;
  /** All of stderr, once the process has closed it. */
  stderr: Promise<string>;
}

function spawnCli(args: string[], options: CliOptions = {}): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdinWritten = options.stdin === undefined
    ? Promise.resolve()
    : ReadableStream.from([new TextEncoder().encode(options.stdin)]).pipeTo(child.stdin)
      .catch(() => {});
  let text = "";
  let ended = false;
  let waiters: { prefix: string; resolve(): void; reject(error: Error): void }[] = [];
  const endedError = () => new Error(`stderr of mb ${args.join(" ")} ended:\n${text}`);
  const stderr = (async () => {
    for await (const line of lines(child.stderr)) {
      text += `${line}\n`;
      const waiting = waiters;
      waiters = [];
      for (const waiter of waiting) {
        if (line.startsWith(waiter.prefix)) waiter.resolve();
        else waiters.push(waiter);
      }
    }
    ended = true;
    for (const waiter of waiters) waiter.reject(endedError());
    return text;
  })();
  const stdout = lines(child.stdout);
  return {
    child,
    stdout,
    stderr,
    waitForStderr(prefix) {
      if (text.split("\n").some((line) => line.startsWith(prefix))) return Promise.resolve();
      if (ended) return Promise.reject(endedError());
      return new Promise((resolve, reject) => waiters.push({ prefix, resolve, reject }));
    },
    [Symbol.asyncDispose]: () => stopChild(child, stdout, stderr, stdinWritten),
  };
}

interface CliResult {
  code: number;
  stdout: string[];
  stderr: string;
}

/** Runs `mb` to completion (within {@linkcode START_MS}). */
async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  await using cli = spawnCli(args, options);
  const stdout = Array.fromAsync(cli.stdout);
  const status = await deadline(cli.child.status, START_MS, `mb ${args.join(" ")} exiting`);
  return { code: status.code, stdout: await stdout, stderr: await cli.stderr };
}

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Collects `count` messages from an in-process subscription. */
async function collect(
  sub: AsyncIterable<Message>,
  count: number,
): Promise<{ message: Message; at: number }[]> {
  const received: { message: Message; at: number }[] = [];
  for await (const message of sub) {
    received.push({ message, at: performance.now() });
    if (received.length === count) break;
  }
  return received;
}

Deno.test("mb sub prints the message mb pub sends to a matching topic, then exits with --count", async () => {
  await using broker = await startBroker();
  const base = uniqueTopic("sensors");
  await using sub = spawnCli(["sub", "--server", broker.url, "--count", "1", `${base}/#`]);
  await deadline(sub.waitForStderr(READY), START_MS, "mb sub subscribing");

  const pub = await runCli(["pub", "--server", broker.url, `${base}/kitchen`, "22.5"]);
  assert.equal(pub.code, 0, pub.stderr);
  assert.deepEqual(pub.stdout, []);
  assert.equal(pub.stderr, "");

  const line = await deadline(sub.stdout.next(), EVENT_MS, "mb sub printing the message");
  assert.deepEqual(line, { value: `${base}/kitchen 22.5`, done: false });
  const status = await deadline(sub.child.status, EVENT_MS, "mb sub exiting after --count 1");
  assert.equal(status.code, 0, await sub.stderr);
  assert.match(await sub.stderr, /^Subscribed to ".*\/#"\n$/);
});

Deno.test("mb pub publishes each stdin line with --header and --confirm; mb sub --json prints them in order", async () => {
  await using broker = await startBroker();
  const topic = uniqueTopic("lines");
  await using sub = spawnCli(["sub", "-s", broker.url, "--json", "--count", "3", `${topic}/+`]);
  await deadline(sub.waitForStderr(READY), START_MS, "mb sub subscribing");

  const pub = await runCli(
    [
      "pub",
      "-s",
      broker.url,
      "--header",
      "unit=celsius",
      "-H",
      "room=a=b",
      "--confirm",
      topic + "/t",
    ],
    { stdin: "21.5\n22\r\n22.5" },
  );
  assert.equal(pub.code, 0, pub.stderr);

  const printed = await deadline(Array.fromAsync(sub.stdout), EVENT_MS, "mb sub printing 3 lines");
  const headers = { unit: "celsius", room: "a=b" };
  assert.deepEqual(printed.map((line) => JSON.parse(line)), [
    { topic: `${topic}/t`, data: "21.5", headers },
    { topic: `${topic}/t`, data: "22", headers },
    { topic: `${topic}/t`, data: "22.5", headers },
  ]);
  assert.equal((await deadline(sub.child.status, EVENT_MS, "mb sub exiting")).code, 0);
});

Deno.test("mb pub --count repeats the message, --interval apart, and --verbose reports it", async () => {
  await using broker = await startBroker();
  const topic = uniqueTopic("repeat");
  await using client = await connect(broker.url);
  const sub = client.subscribe(topic);
  await client.flush();

  const pub = runCli([
    "pub",
    "-s",
    broker.url,
    "--count",
    "5",
    "--interval",
    "10",
    "--verbose",
    topic,
    "tick",
  ]);
  const received = await deadline(collect(sub, 5), START_MS, "5 messages from mb pub");
  const result = await pub;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /Published 5 messages to "repeat\//);
  assert.deepEqual(received.map((r) => r.message.text()), ["tick", "tick", "tick", "tick", "tick"]);
  // Four waits of 10 ms; allow for timer and delivery jitter.
  const spread = received[4].at - received[0].at;
  assert.ok(spread >= 30, `5 messages 10 ms apart arrived within ${spread} ms`);
});

Deno.test("mb sub --queue members share the messages: each is printed exactly once", async () => {
  await using broker = await startBroker();
  const topic = uniqueTopic("jobs");
  const args = ["sub", "-s", broker.url, "--queue", "w", topic];
  await using a = spawnCli(args);
  await using b = spawnCli(args);
  await deadline(
    Promise.all([a.waitForStderr(READY), b.waitForStderr(READY)]),
    START_MS,
    "both queue members subscribing",
  );

  const total = 20;
  const printed: string[] = [];
  const all = Promise.withResolvers<void>();
  const read = (cli: CliProcess) =>
    (async () => {
      for await (const line of cli.stdout) {
        printed.push(line);
        if (printed.length === total) all.resolve();
      }
    })();
  const readers = [read(a), read(b)];

  await using client = await connect(broker.url);
  for (let i = 0; i < total; i++) await client.publish(topic, String(i));
  await client.flush();
  await deadline(all.promise, EVENT_MS, `${total} messages across the queue group`);

  a.child.kill("SIGTERM");
  b.child.kill("SIGTERM");
  const statuses = await deadline(
    Promise.all([a.child.status, b.child.status]),
    EVENT_MS,
    "queue members exiting on SIGTERM",
  );
  await Promise.all(readers);
  assert.deepEqual(statuses.map((s) => s.code), [0, 0]);
  const numbers = printed.map((line) => Number(line.slice(topic.length + 1))).sort((x, y) => x - y);
  assert.deepEqual(numbers, Array.from({ length: total }, (_, i) => i));
  assert.match(await a.stderr, /Subscribed to ".*" in queue group "w"/);
});

Deno.test("mb sub keeps its subscription across a broker restart", async () => {
  await using first = await startBroker();
  const port = first.addresses[0].port!;
  const topic = uniqueTopic("restart");
  await using sub = spawnCli(["sub", "-s", first.url, "--count", "1", topic]);
  await deadline(sub.waitForStderr(READY), START_MS, "mb sub subscribing");

  await first.stop();
  await deadline(sub.waitForStderr("mb: disconnected from "), EVENT_MS, "mb sub disconnecting");
  await using second = await startBroker({ port });
  await deadline(sub.waitForStderr("mb: reconnected to "), EVENT_MS, "mb sub reconnecting");

  // The subscription is restored right after the reconnect; a confirmed
  // publish with a reply-to fails with NO_RESPONDERS until it is.
  await using client = await connect(second.url);
  await eventually(
    async () => {
      try {
        await client.publish(topic, "after restart", { replyTo: "test/ignored", confirm: true });
        return true;
      } catch (error) {
        if (error instanceof MbError && error.code === "NO_RESPONDERS") return false;
        throw error;
      }
    },
    EVENT_MS,
    "the restarted broker having the subscription of mb sub",
  );
  const line = await deadline(sub.stdout.next(), EVENT_MS, "mb sub printing the message");
  assert.deepEqual(line, { value: `${topic} after restart`, done: false });
  assert.equal((await deadline(sub.child.status, EVENT_MS, "mb sub exiting")).code, 0);
});

Deno.test("mb req prints the reply of a responder, reaching the broker through MB_SERVER", async () => {
  await using broker = await startBroker();
  const topic = uniqueTopic("time");
  await using client = await connect(broker.url);
  client.subscribe(topic, {
    callback: (msg) => void msg.respond(`pong: ${msg.text()} (${msg.headers.trace})`),
  });
  await client.flush();

  const result = await runCli(["req", "-H", "trace=42", topic, "ping"], {
    env: { MB_SERVER: broker.url },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout, ["pong: ping (42)"]);
});

Deno.test("mb req exits 1 with NO_RESPONDERS when nobody listens, and TIMEOUT when nobody answers", async () => {
  await using broker = await startBroker();
  const topic = uniqueTopic("nobody");
  const none = await runCli(["req", "-s", broker.url, topic, "hello"]);
  assert.equal(none.code, 1);
  assert.deepEqual(none.stdout, []);
  assert.match(none.stderr, /^mb: NO_RESPONDERS: /);

  await using client = await connect(broker.url);
  client.subscribe(topic, { callback: () => {} });
  await client.flush();
  const silent = await runCli(["req", "-s", broker.url, "--timeout", "200", topic]);
  assert.equal(silent.code, 1);
  assert.match(silent.stderr, /^mb: TIMEOUT: .*200 ms/);
});

Deno.test("mb exits 2 with the usage on a bad command line, and 0 for --help and --version", async () => {
  const bad = [
    [],
    ["frobnicate"],
    ["pub"],
    ["sub"],
    ["sub", "a/#", "extra"],
    ["sub", "a/#/b"],
    ["pub", "a/+", "x"],
    ["pub", "--count", "x", "t", "m"],
    ["pub", "--count", "2", "t"],
    ["pub", "--header", "novalue", "t", "m"],
    ["req", "--queue", "q", "t"],
    ["sub", "--bogus", "t"],
    ["help", "frobnicate"],
  ];
  const results = await Promise.all(bad.map((args) => runCli(args)));
  for (let i = 0; i < bad.length; i++) {
    const { code, stdout, stderr } = results[i];
    const what = `mb ${bad[i].join(" ")}`;
    assert.equal(code, 2, `${what} exited ${code}: ${stderr}`);
    assert.deepEqual(stdout, [], what);
    assert.match(stderr, /^mb: .+\n\nUsage: mb /, what);
  }

  const [help, subHelp, helpPub, version] = await Promise.all([
    runCli(["--help"]),
    runCli(["sub", "--help"]),
    runCli(["help", "pub"]),
    runCli(["--version"]),
  ]);
  for (const result of [help, subHelp, helpPub, version]) assert.equal(result.code, 0);
  assert.ok(help.stdout.includes("Usage: mb COMMAND [options] [arguments]"));
  assert.ok(subHelp.stdout.some((line) => line.includes("--queue NAME")));
  assert.ok(helpPub.stdout.some((line) => line.includes("--interval MS")));
  assert.match(version.stdout[0], /^mb \d+\.\d+\.\d+/);
});

Deno.test("mb exits 1 with CONNECTION_FAILED when no broker listens", async () => {
  const port = closedPort();
  const result = await runCli(["pub", "--server", `mb://127.0.0.1:${port}`, "a/b", "x"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^mb: CONNECTION_FAILED: .*127\.0\.0\.1:\d+/);
});

Deno.test("mb pub tries the next server of a comma-separated --server list", async () => {
  await using broker = await startBroker();
  const topic = uniqueTopic("fallback");
  await using client = await connect(broker.url);
  const sub = client.subscribe(topic);
  await client.flush();

  const servers = `mb://127.0.0.1:${closedPort()},${broker.url}`;
  const result = await runCli(["pub", "--server", servers, topic, "made it"]);
  assert.equal(result.code, 0, result.stderr);
  const [received] = await deadline(collect(sub, 1), EVENT_MS, "the message via the second URL");
  assert.equal(received.message.text(), "made it");
});

Deno.test("mb pub --ca trusts a private certificate for a tls:// server", async () => {
  const certificate = await testCertificate();
  await using broker = await startBroker({
    tls: { cert: certificate.cert, key: certificate.key, port: 0 },
  });
  const tlsUrl = broker.addresses.find((address) => address.transport === "tls")!.url;
  const topic = uniqueTopic("secure");
  await using client = await connect(broker.url);
  const sub = client.subscribe(topic);
  await client.flush();

  const untrusted = await runCli(["pub", "-s", tlsUrl, topic, "nope"]);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /^mb: CONNECTION_FAILED: /);

  const trusted = await runCli([
    "pub",
    "-s",
    tlsUrl,
    "--ca",
    certificate.caPath,
    "--confirm",
    topic,
    "sealed",
  ]);
  assert.equal(trusted.code, 0, trusted.stderr);
  const [received] = await deadline(collect(sub, 1), EVENT_MS, "the message sent over TLS");
  assert.equal(received.message.text(), "sealed");
});
