// Copyright mb authors. MIT license.
// The README's curl examples of the HTTP API, run with the real `curl`
// against a broker (port 4180 replaced by the test broker's), their output
// checked. CURL_EXAMPLES is the README's code block, line for line.

import assert from "node:assert/strict";
import { deadline, eventually, lines, ROOT, startBroker, stopChild } from "./_helpers.ts";

/** The command lines of the README's HTTP API block, in order. */
const CURL_EXAMPLES = {
  publish:
    "curl -s -X POST http://localhost:4180/v1/topics/sensors/kitchen -H 'mb-header-unit: C' -d '22.5'",
  subscribe: "curl -s -N 'http://localhost:4180/v1/subscribe?pattern=sensors/%23'",
  createStream:
    `curl -s -X POST http://localhost:4180/v1/streams -d '{"name":"orders","topics":["orders/#"]}'`,
  confirm:
    `curl -s -X POST 'http://localhost:4180/v1/topics/orders/42?confirm=true' -d '{"id":42}'`,
  page: "curl -s 'http://localhost:4180/v1/streams/orders/messages?from=first&max=10'",
  declare: `curl -s -X PUT http://localhost:4180/v1/queues/emails -d '{"ackWaitMs":30000}'`,
  send:
    `curl -s -X POST http://localhost:4180/v1/queues/emails/messages -d '{"to":"a@example.com"}'`,
  fetch:
    `curl -s -X POST http://localhost:4180/v1/queues/emails/fetch -d '{"max":10,"waitMs":1000}'`,
  ack: `curl -s -X POST http://localhost:4180/v1/queues/emails/ack -d '{"id":0}'`,
} as const;

/** Runs a README command line with `sh`, the port swapped for `port`. */
async function run(command: string, port: number): Promise<string> {
  const output = await new Deno.Command("sh", {
    args: ["-c", command.replaceAll(":4180/", `:${port}/`)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, `${command}: ${new TextDecoder().decode(output.stderr)}`);
  return new TextDecoder().decode(output.stdout);
}

function spawn(command: string, port: number): Deno.ChildProcess {
  return new Deno.Command("sh", {
    // exec: the signal that ends the test reaches curl itself.
    args: ["-c", `exec ${command.replaceAll(":4180/", `:${port}/`)}`],
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

Deno.test("README curl examples: publish, SSE subscribe with curl -N, streams, queue fetch and ack", async () => {
  await using broker = await startBroker({ httpPort: 0 });
  const port = broker.addresses.find((address) => address.transport === "http")!.port!;

  // curl -N prints each event as it comes.
  const subscriber = spawn(CURL_EXAMPLES.subscribe, port);
  const events = lines(subscriber.stdout);
  try {
    await eventually(() => broker.stats().subscriptions === 1, 5000, "curl subscribed");
    assert.equal(await run(CURL_EXAMPLES.publish, port), "{}");
    const got: string[] = [];
    await deadline(
      (async () => {
        while (got.length < 2) {
          const next = await events.next();
          if (next.done) throw new Error("curl -N ended");
          if (next.value !== "") got.push(next.value);
        }
      })(),
      5000,
      "the SSE event printed by curl",
    );
    assert.deepEqual(got, [
      "event: message",
      'data: {"topic":"sensors/kitchen","payload":"22.5","headers":{"unit":"C"}}',
    ]);
  } finally {
    await stopChild(subscriber, events);
  }

  const stream = JSON.parse(await run(CURL_EXAMPLES.createStream, port));
  assert.equal(stream.name, "orders");
  assert.equal(await run(CURL_EXAMPLES.confirm, port), '{"offset":0,"stream":"orders"}');
  const page = JSON.parse(await run(CURL_EXAMPLES.page, port));
  assert.equal(page.nextOffset, 1);
  assert.equal(page.messages.length, 1);
  const [stored] = page.messages;
  assert.equal(typeof stored.timestamp, "number");
  assert.deepEqual({ ...stored, timestamp: 0 }, {
    offset: 0,
    timestamp: 0,
    topic: "orders/42",
    payload: '{"id":42}',
    headers: {},
  });

  const queue = JSON.parse(await run(CURL_EXAMPLES.declare, port));
  assert.equal(queue.name, "emails");
  assert.equal(queue.ackWaitMs, 30000);
  assert.equal(await run(CURL_EXAMPLES.send, port), '{"id":0}');
  const fetched = JSON.parse(await run(CURL_EXAMPLES.fetch, port));
  assert.equal(fetched.messages.length, 1);
  const [job] = fetched.messages;
  assert.equal(typeof job.timestamp, "number");
  assert.deepEqual({ ...job, timestamp: 0 }, {
    id: 0,
    deliveryCount: 1,
    timestamp: 0,
    topic: "emails",
    payload: '{"to":"a@example.com"}',
    headers: {},
  });
  assert.equal(await run(CURL_EXAMPLES.ack, port), "{}");
  const info = JSON.parse(await run("curl -s http://localhost:4180/v1/queues/emails", port));
  assert.equal(info.messages, 0);
});

Deno.test("README curl examples are the curl lines of the README's HTTP API section", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf("### The HTTP API");
  assert.ok(start >= 0, 'README.md has a section "### The HTTP API"');
  const end = readme.indexOf("\n## ", start);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const commands = section.split("\n").map((line) => line.trim()).filter((line) =>
    line.startsWith("curl ")
  );
  assert.deepEqual(commands, Object.values(CURL_EXAMPLES));
});
