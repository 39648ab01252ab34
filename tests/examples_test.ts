// Copyright mb authors. MIT license.
// Runs the programs in examples/ as a user would, against an in-process
// broker (handed to them in MB_SERVER), and type-checks them all.

import assert from "node:assert/strict";
import { deadline, lines, ROOT, startBroker, stopChild } from "./_helpers.ts";

/** Time for a fresh `deno run` to start, connect and finish its work. */
const START_MS = 20_000;

/** A running example. Dispose it to kill it and release its pipes. */
interface ExampleProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Stdout, line by line. */
  stdout: AsyncGenerator<string>;
  /** All of stderr, once the process has closed it. */
  stderr: Promise<string>;
}

function spawnExample(
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
): ExampleProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}examples/${file}`, ...args],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = lines(child.stdout);
  const stderr = new Response(child.stderr).text();
  return {
    child,
    stdout,
    stderr,
    [Symbol.asyncDispose]: () => stopChild(child, stdout, stderr),
  };
}

interface Result {
  code: number;
  stdout: string[];
  stderr: string;
}

/** Waits for an example to exit; returns its status and output. */
async function finish(example: ExampleProcess, name: string): Promise<Result> {
  const stdout = Array.fromAsync(example.stdout);
  const status = await deadline(example.child.status, START_MS, `${name} exiting`);
  return { code: status.code, stdout: await stdout, stderr: await example.stderr };
}

/** Runs an example to completion. */
async function runExample(
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Result> {
  await using example = spawnExample(file, args, env);
  return await finish(example, [file, ...args].join(" "));
}

/** The next stdout line of an example, within {@linkcode START_MS}. */
async function nextLine(example: ExampleProcess, name: string): Promise<string> {
  const next = await deadline(example.stdout.next(), START_MS, name);
  if (next.done) throw new Error(`${name}: stdout ended; stderr:\n${await example.stderr}`);
  return next.value;
}

Deno.test("examples type-check", async () => {
  const output = await deadline(
    new Deno.Command(Deno.execPath(), {
      args: ["check", "examples/"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output(),
    60_000,
    "deno check examples/",
  );
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
});

Deno.test("examples/embedded_broker.ts round-trips a message through its own broker and exits 0", async () => {
  const result = await runExample("embedded_broker.ts");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.length, 3, result.stdout.join("\n"));
  assert.match(result.stdout[0], /^Broker listening on mb:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(
    result.stdout[1],
    "Received on greetings/world: hello from an embedded broker (from embedded_broker.ts)",
  );
  assert.equal(result.stdout[2], "Broker routed 1 message(s) to 1 subscriber(s)");
});

Deno.test("examples/request_reply.ts answers its own three requests and exits 0", async () => {
  await using broker = await startBroker();
  const result = await runExample("request_reply.ts", [], { MB_SERVER: broker.url });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.map((line) => line.replace(/-> .*/, "-> ...")), [
    "Answering on time/now",
    "time/now (UTC) -> ...",
    "time/now (Europe/Paris) -> ...",
    "time/now (Asia/Tokyo) -> ...",
  ]);
});

Deno.test("examples/request_reply.ts ask gets the answer of serve, and NO_RESPONDERS without it", async () => {
  await using broker = await startBroker();
  const env = { MB_SERVER: broker.url };
  const alone = await runExample("request_reply.ts", ["ask"], env);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /^NO_RESPONDERS: /);

  await using service = spawnExample("request_reply.ts", ["serve", "--count", "1"], env);
  assert.equal(await nextLine(service, "serve starting"), "Answering on time/now");
  const asked = await runExample("request_reply.ts", ["ask", "UTC"], env);
  assert.equal(asked.code, 0, asked.stderr);
  assert.match(asked.stdout[0], /^time\/now \(UTC\) -> \d\d\/\d\d\/\d{4}, \d\d:\d\d:\d\d$/);
  assert.equal((await finish(service, "serve --count 1")).code, 0);
});

Deno.test("examples/worker.ts handles each job that worker.ts --produce publishes", async () => {
  await using broker = await startBroker();
  const env = { MB_SERVER: broker.url };
  await using worker = spawnExample("worker.ts", ["--name", "w1", "--count", "3"], env);
  assert.equal(await nextLine(worker, "worker starting"), "w1 waiting for jobs");

  const producer = await runExample("worker.ts", ["--produce", "3"], env);
  assert.equal(producer.code, 0, producer.stderr);
  assert.deepEqual(producer.stdout, ["Published 3 jobs to jobs/resize"]);

  const result = await finish(worker, "worker --count 3");
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout, [
    "w1 handled job 1 (jobs/resize: photo-1.jpg)",
    "w1 handled job 2 (jobs/resize: photo-2.jpg)",
    "w1 handled job 3 (jobs/resize: photo-3.jpg)",
  ]);
});

Deno.test("examples/subscriber.ts prints the readings examples/publisher.ts sends", async () => {
  await using broker = await startBroker();
  const env = { MB_SERVER: broker.url };
  await using subscriber = spawnExample("subscriber.ts", ["sensors/+/temp", "--count", "2"], env);
  assert.match(
    await nextLine(subscriber, "subscriber starting"),
    /^Listening on sensors\/\+\/temp/,
  );

  const publisher = await runExample(
    "publisher.ts",
    ["--room", "lab", "--count", "2", "--interval", "10"],
    env,
  );
  assert.equal(publisher.code, 0, publisher.stderr);
  assert.equal(publisher.stdout.length, 3, publisher.stdout.join("\n"));

  const result = await finish(subscriber, "subscriber --count 2");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.length, 2, result.stdout.join("\n"));
  for (const line of result.stdout) {
    assert.match(line, /^sensors\/lab\/temp \[celsius\] \{"celsius":-?\d+(\.\d)?,"at":"[^"]+"\}$/);
  }
});
