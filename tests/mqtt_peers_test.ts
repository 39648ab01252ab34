// Copyright mb authors. MIT license.
// Debian's mosquitto_pub and mosquitto_sub (package mosquitto-clients)
// against mb: QoS 0/1/2, retained messages, a will, wildcards, $share, and
// the README's promise that mosquitto_sub and mb sub both print what
// mosquitto_pub and mb pub send.

import assert from "node:assert/strict";
import {
  deadline,
  eventually,
  lines,
  ROOT,
  spawnServer,
  startBroker,
  stopChild,
  uniqueTopic,
} from "./_helpers.ts";

const START_MS = 20_000;

function requireMosquittoClients(): void {
  for (const tool of ["mosquitto_pub", "mosquitto_sub"]) {
    try {
      new Deno.Command(tool, { args: ["--help"], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      throw new Error(`This test needs ${tool}: apt install mosquitto-clients`);
    }
  }
}

/** A running command whose stdout is read line by line. */
interface Running extends AsyncDisposable {
  child: Deno.ChildProcess;
  stdout: AsyncGenerator<string>;
}

function spawn(command: string, args: string[], stdin?: string): Running {
  const child = new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const written = stdin === undefined
    ? Promise.resolve()
    : ReadableStream.from([new TextEncoder().encode(stdin)]).pipeTo(child.stdin).catch(() => {});
  const stdout = lines(child.stdout);
  return { child, stdout, [Symbol.asyncDispose]: () => stopChild(child, stdout, written) };
}

/** Reads lines until one matches, leaving the generator open (a `for await` exit would close it). */
async function untilLine(
  source: AsyncGenerator<string>,
  match: (line: string) => boolean,
): Promise<void> {
  while (true) {
    const next = await source.next();
    if (next.done) throw new Error("the output ended before the line awaited");
    if (match(next.value)) return;
  }
}

/** Runs a command to its end and returns its stdout lines and exit code. */
async function run(command: string, args: string[], stdin?: string) {
  await using running = spawn(command, args, stdin);
  const out = Array.fromAsync(running.stdout);
  const status = await deadline(running.child.status, START_MS, `${command} ${args.join(" ")}`);
  return { code: status.code, lines: await out };
}

/** Starts a broker with MQTT on a free port; `subscriptions()` counts routes. */
async function mqttBroker() {
  requireMosquittoClients();
  const broker = await startBroker({ mqttPort: 0 });
  const port = String(broker.addresses.find((a) => a.transport === "mqtt")!.port);
  return Object.assign(broker, { mqttArgs: ["-h", "127.0.0.1", "-p", port] });
}

/** Waits until the broker holds `count` more subscriptions than `before`. */
function subscribed(broker: { stats(): { subscriptions: number } }, before: number, count = 1) {
  return eventually(
    () => broker.stats().subscriptions >= before + count,
    START_MS,
    "mosquitto_sub subscribing",
  );
}

Deno.test("mosquitto clients: QoS 0, 1 and 2 both ways through mb, delivered at the lower of publish and subscription QoS", async () => {
  await using broker = await mqttBroker();
  for (const [pubQos, subQos] of [[0, 2], [1, 1], [2, 2], [2, 1]]) {
    const topic = uniqueTopic("qos");
    const before = broker.stats().subscriptions;
    await using sub = spawn("mosquitto_sub", [
      ...broker.mqttArgs,
      "-t",
      topic,
      "-q",
      String(subQos),
      "-C",
      "1",
      "-W",
      "15",
      "-F",
      "%q %t %p",
    ]);
    await subscribed(broker, before);
    const pub = await run("mosquitto_pub", [
      ...broker.mqttArgs,
      "-t",
      topic,
      "-q",
      String(pubQos),
      "-m",
      `qos ${pubQos}`,
    ]);
    assert.equal(pub.code, 0);
    const [line] = await Array.fromAsync(sub.stdout);
    assert.equal(line, `${Math.min(pubQos, subQos)} ${topic} qos ${pubQos}`);
  }
});

Deno.test("mosquitto clients: retained messages set, sent on subscribe with the retain flag, cleared by an empty payload", async () => {
  await using broker = await mqttBroker();
  const base = uniqueTopic("retained");
  for (const value of ["20", "21"]) {
    await run("mosquitto_pub", [
      ...broker.mqttArgs,
      "-t",
      `${base}/kitchen`,
      "-r",
      "-q",
      "1",
      "-m",
      value,
    ]);
  }
  const got = await run("mosquitto_sub", [
    ...broker.mqttArgs,
    "-t",
    `${base}/#`,
    "-C",
    "1",
    "-W",
    "10",
    "-F",
    "%r %t %p",
  ]);
  assert.deepEqual(got.lines, [`1 ${base}/kitchen 21`]);
  await run("mosquitto_pub", [...broker.mqttArgs, "-t", `${base}/kitchen`, "-r", "-n"]);
  const none = await run("mosquitto_sub", [
    ...broker.mqttArgs,
    "-t",
    `${base}/#`,
    "-C",
    "1",
    "-W",
    "1",
  ]);
  assert.deepEqual(none.lines, [], "the cleared topic is not sent");
  assert.notEqual(none.code, 0, "mosquitto_sub timed out waiting");
});

Deno.test("mosquitto clients: a killed client's will (--will-topic) is published; wildcards + and # match", async () => {
  await using broker = await mqttBroker();
  const base = uniqueTopic("will");
  let before = broker.stats().subscriptions;
  await using watcher = spawn("mosquitto_sub", [
    ...broker.mqttArgs,
    "-t",
    `${base}/+/status`,
    "-t",
    `${base}/#`,
    "-v",
    "-C",
    "2",
    "-W",
    "15",
  ]);
  await subscribed(broker, before, 2);
  before = broker.stats().subscriptions;
  const doomed = spawn("mosquitto_sub", [
    ...broker.mqttArgs,
    "-t",
    `${base}/ignored`,
    "--will-topic",
    `${base}/sensor-1/status`,
    "--will-payload",
    "offline",
    "--will-qos",
    "1",
  ]);
  await subscribed(broker, before);
  doomed.child.kill("SIGKILL");
  await doomed[Symbol.asyncDispose]();
  // One copy per matching subscription (both filters match).
  const got = await Array.fromAsync(watcher.stdout);
  assert.deepEqual(got, [`${base}/sensor-1/status offline`, `${base}/sensor-1/status offline`]);
});

Deno.test("mosquitto clients: two $share/GROUP/... subscribers share the messages", async () => {
  await using broker = await mqttBroker();
  const base = uniqueTopic("share");
  const before = broker.stats().subscriptions;
  const args = [...broker.mqttArgs, "-t", `$share/workers/${base}/#`, "-v"];
  await using a = spawn("mosquitto_sub", args);
  await using b = spawn("mosquitto_sub", args);
  await subscribed(broker, before, 2);
  const total = 40;
  const input = Array.from({ length: total }, (_, i) => `job ${i}`).join("\n") + "\n";
  const pub = await run("mosquitto_pub", [
    ...broker.mqttArgs,
    "-t",
    `${base}/jobs`,
    "-q",
    "1",
    "-l",
  ], input);
  assert.equal(pub.code, 0);
  const counts = [0, 0];
  const seen = new Set<string>();
  const count = (running: Running, index: number) =>
    (async () => {
      for await (const line of running.stdout) {
        seen.add(line);
        counts[index]++;
      }
    })();
  const readers = [count(a, 0), count(b, 1)];
  await eventually(() => seen.size === total, 10_000, "every job arriving once");
  a.child.kill("SIGKILL");
  b.child.kill("SIGKILL");
  await Promise.all(readers);
  assert.equal(counts[0] + counts[1], total, `no duplicates: ${counts}`);
  assert.ok(counts[0] > 0 && counts[1] > 0, `both members got work: ${counts}`);
});

Deno.test("mosquitto_sub and mb sub both print what mosquitto_pub and mb pub send (README)", async () => {
  requireMosquittoClients();
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const mqttPort = probe.addr.port;
  probe.close();
  await using server = await spawnServer(["--port", "0", "--mqtt-port", String(mqttPort)], {
    expectUrls: 2,
  });
  const mbUrl = server.urls[0];
  const mqttArgs = ["-h", "127.0.0.1", "-p", String(mqttPort)];
  // stdbuf: mosquitto_sub's debug lines (-d) are block-buffered on a pipe.
  await using mosquittoSub = spawn("stdbuf", [
    "-oL",
    "mosquitto_sub",
    ...mqttArgs,
    "-t",
    "sensors/#",
    "-v",
    "-C",
    "2",
    "-W",
    "20",
    "-d",
  ]);
  const mbSubChild = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}client/cli.ts`,
      "sub",
      "--server",
      mbUrl,
      "--count",
      "2",
      "sensors/#",
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const mbSubLines = lines(mbSubChild.stdout);
  const mbSubErr = lines(mbSubChild.stderr);
  try {
    // Both subscribed: mosquitto_sub -d prints the SUBACK, mb sub says so on stderr.
    const mosquittoOut: string[] = [];
    await deadline(
      untilLine(mosquittoSub.stdout, (line) => line.includes("SUBACK")),
      START_MS,
      "mosquitto_sub subscribing",
    );
    await deadline(
      untilLine(mbSubErr, (line) => line.startsWith("Subscribed to ")),
      START_MS,
      "mb sub subscribing",
    );
    const pub = await run("mosquitto_pub", [...mqttArgs, "-t", "sensors/kitchen", "-m", "22.5"]);
    assert.equal(pub.code, 0);
    const mbPub = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}client/cli.ts`, "pub", "--server", mbUrl, "sensors/hall", "21"],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(mbPub.success, new TextDecoder().decode(mbPub.stderr));
    for await (const line of mosquittoSub.stdout) {
      if (line.startsWith("sensors/")) mosquittoOut.push(line);
    }
    const mbOut = await deadline(Array.fromAsync(mbSubLines), START_MS, "mb sub printing");
    assert.deepEqual(mosquittoOut, ["sensors/kitchen 22.5", "sensors/hall 21"]);
    assert.deepEqual(mbOut, ["sensors/kitchen 22.5", "sensors/hall 21"]);
  } finally {
    await stopChild(mbSubChild, mbSubLines, Array.fromAsync(mbSubErr));
  }
});
