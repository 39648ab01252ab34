// Copyright mb authors. MIT license.
// The `mb` stream and queue commands (`stream`, `queue`, `pull`, `sub
// --stream`) as real `deno run client/cli.ts` processes, against the fake
// durable broker of _fake_durable_broker.ts.

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { fakeDurableBroker } from "./_fake_durable_broker.ts";
import { deadline, ROOT } from "./_helpers.ts";

const CLI = `${ROOT}client/cli.ts`;
/** Time for a fresh `deno run` to start, connect and answer. */
const START_MS = 20_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function mb(args: string[]): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await deadline(child.output(), START_MS, `mb ${args.join(" ")}`);
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("mb stream create, ls, info, purge and rm manage streams", async () => {
  const broker = fakeDurableBroker();
  const s = ["-s", broker.url];
  const created = await mb([
    "stream",
    ...s,
    "create",
    "orders",
    "--topic",
    "orders/#",
    "--topic",
    "refunds/+",
    "--max-msgs",
    "100",
  ]);
  assert.equal(created.code, 0, created.stderr);
  const info = JSON.parse(created.stdout);
  assert.equal(info.name, "orders");
  assert.deepEqual(info.topics, ["orders/#", "refunds/+"]);
  assert.equal(info.maxMsgs, 100);

  const ls = await mb(["stream", ...s, "ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  const [header, row] = ls.stdout.trimEnd().split("\n");
  assert.match(header, /^NAME\s+MESSAGES\s+BYTES\s+FIRST\s+NEXT\s+READERS\s+TOPICS$/);
  assert.match(row, /^orders\s+0\s+0\s+0\s+0\s+0\s+orders\/#,refunds\/\+$/);

  const json = await mb(["stream", ...s, "ls", "--json"]);
  assert.equal(JSON.parse(json.stdout).name, "orders");
  const described = await mb(["stream", ...s, "info", "orders"]);
  assert.equal(JSON.parse(described.stdout).nextOffset, 0);
  const purged = await mb(["stream", ...s, "purge", "orders"]);
  assert.equal(purged.stdout, 'Purged 0 messages from stream "orders"\n');
  const removed = await mb(["stream", ...s, "rm", "orders"]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout, "");
  const gone = await mb(["stream", ...s, "info", "orders"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^mb: STREAM_UNKNOWN: /);
  await broker.close();
});

Deno.test("mb sub --stream prints stored messages with their offsets from --from", async () => {
  const broker = fakeDurableBroker();
  const client = await connect(broker.url);
  await client.streams.create({ name: "events", topics: ["events/#"] });
  for (const text of ["a", "b", "c"]) await client.publish("events/x", text, { confirm: true });

  const all = await mb([
    "sub",
    "-s",
    broker.url,
    "--stream",
    "events",
    "--from",
    "first",
    "--count",
    "3",
    "events/#",
  ]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, "0 events/x a\n1 events/x b\n2 events/x c\n");
  assert.equal(all.stderr, 'Subscribed to "events/#" on stream "events"\n');

  const json = await mb([
    "sub",
    "-s",
    broker.url,
    "--stream",
    "events",
    "--from",
    "2",
    "--count",
    "1",
    "--json",
    "#",
  ]);
  const record = JSON.parse(json.stdout);
  assert.equal(record.offset, 2);
  assert.equal(record.data, "c");
  assert.equal(typeof record.timestamp, "number");

  const unknown = await mb(["sub", "-s", broker.url, "--stream", "nope", "#"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /mb: STREAM_UNKNOWN: /);
  await client.close();
  await broker.close();
});

Deno.test("mb queue declare and send, then mb pull prints and acks", async () => {
  const broker = fakeDurableBroker();
  const s = ["-s", broker.url];
  const declared = await mb([
    "queue",
    ...s,
    "declare",
    "emails",
    "--max-deliver",
    "3",
    "--ack-wait-ms",
    "500",
  ]);
  assert.equal(declared.code, 0, declared.stderr);
  assert.equal(JSON.parse(declared.stdout).maxDeliver, 3);
  const sent = await mb(["queue", ...s, "send", "emails", "hello"]);
  assert.equal(sent.stdout, "1\n");
  const topical = await mb(["queue", ...s, "send", "--topic", "mail/out", "emails", "world"]);
  assert.equal(topical.stdout, "2\n");

  const pulled = await mb(["pull", ...s, "--max", "5", "emails"]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout, "emails hello\nmail/out world\n");
  const ls = await mb(["queue", ...s, "ls"]);
  assert.match(ls.stdout.split("\n")[1], /^emails\s+0\s+0\s+/, "pull acked both");

  const empty = await mb(["pull", ...s, "emails"]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, "");
  const missing = await mb(["pull", ...s, "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /mb: QUEUE_UNKNOWN: /);
  await broker.close();
});

Deno.test("mb stream, queue, pull and sub --stream refuse bad command lines with status 2", async () => {
  for (
    const args of [
      ["stream"],
      ["stream", "frobnicate", "x"],
      ["stream", "ls", "extra"],
      ["stream", "info", "../etc"],
      ["stream", "create", "s"],
      ["stream", "ls", "--topic", "a"],
      ["stream", "create", "s", "--topic", "a/#/b"],
      ["queue", "info", "q", "--max-deliver", "3"],
      ["queue", "declare", "q", "--max-deliver", "0"],
      ["pull"],
      ["pull", "q", "--max", "0"],
      ["sub", "a", "--from", "first"],
      ["sub", "a", "--stream", "s", "--from", "yesterday"],
      ["sub", "a", "--stream", "s", "--queue", "g"],
    ]
  ) {
    const result = await mb(args);
    assert.equal(result.code, 2, `mb ${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /^mb: .*\n\nUsage: mb /, `mb ${args.join(" ")}`);
  }
  const help = await mb(["stream", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /create NAME --topic T/);
});
