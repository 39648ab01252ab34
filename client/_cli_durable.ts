// Copyright mb authors. MIT license.

/**
 * The `mb` commands for a broker's store: `pull` (take queue messages),
 * `stream` and `queue` (administration, and `queue send`).
 *
 * @module
 */

import type { QueueInfo, StreamConfig, StreamInfo } from "../protocol/durable.ts";
import { nameProblem } from "../protocol/durable.ts";
import { patternProblem } from "../protocol/topic.ts";
import {
  checkTopic,
  closeClient,
  connectClient,
  type Context,
  headers,
  integer,
  positionals,
  Stdout,
  toJson,
} from "./_cli_commands.ts";
import { type CommandName, COMMANDS, type OptionName, quote, UsageError } from "./_cli_help.ts";
import type { Client } from "./client.ts";
import type { QueueDeclareOptions } from "./queues.ts";

// --- pull --------------------------------------------------------------------

/** `mb pull`: fetches, prints and acks queue messages; returns the exit status. */
export async function runPull(context: Context): Promise<number> {
  const { values, args } = context;
  const [queue] = positionals(args, 1, 1, "pull", "QUEUE");
  checkName(queue, "QUEUE", "pull");
  const max = integer(values.max, "--max", 1, "pull") ?? 1;
  const waitMs = integer(values.wait, "--wait", 0, "pull") ?? 0;
  const json = values.json === true;

  const connection = await connectClient(context);
  try {
    const jobs = await connection.client.queues.fetch(queue, { max, waitMs });
    const out = new Stdout();
    for (const job of jobs) {
      out.line(
        json
          ? toJson(job, { id: job.id, deliveryCount: job.deliveryCount })
          : `${job.topic} ${job.text()}`,
      );
    }
    // Acked only once printed: a failed write leaves them to be redelivered.
    out.flush();
    await Promise.all(jobs.map((job) => job.ack()));
    if (context.verbose) {
      console.error(`Pulled ${plural(jobs.length, "message")} from queue ${quote(queue)}`);
    }
    return 0;
  } finally {
    await closeClient(connection);
  }
}

// --- stream ------------------------------------------------------------------

/** The subcommands of `mb stream`, with the options each takes. */
const STREAM_SUBCOMMANDS: Record<string, readonly OptionName[]> = {
  ls: ["json"],
  info: [],
  create: ["topic", "max-msgs", "max-bytes", "max-age-ms"],
  rm: [],
  purge: [],
};

/** `mb stream SUBCOMMAND`: manages streams; returns the exit status. */
export async function runStream(context: Context): Promise<number> {
  const { values } = context;
  const [sub, name] = subcommand(context, "stream", STREAM_SUBCOMMANDS);
  let config: StreamConfig | undefined;
  if (sub === "create") {
    if (values.topic === undefined) throw new UsageError("Missing --topic", "stream");
    config = {
      name,
      topics: values.topic,
      maxMsgs: integer(values["max-msgs"], "--max-msgs", 0, "stream"),
      maxBytes: integer(values["max-bytes"], "--max-bytes", 0, "stream"),
      maxAgeMs: integer(values["max-age-ms"], "--max-age-ms", 0, "stream"),
    };
    for (const topic of config.topics) checkPattern(topic, "stream");
  }

  return await withClient(context, async (client, out) => {
    switch (sub) {
      case "ls":
        printTable(out, await client.streams.list(), values.json === true, STREAM_COLUMNS);
        return;
      case "info":
        out.line(JSON.stringify(await client.streams.info(name), null, 2));
        return;
      case "create":
        out.line(JSON.stringify(await client.streams.create(config!), null, 2));
        return;
      case "rm":
        await client.streams.delete(name);
        if (context.verbose) console.error(`Deleted stream ${quote(name)}`);
        return;
      case "purge": {
        const purged = await client.streams.purge(name);
        out.line(`Purged ${plural(purged, "message")} from stream ${quote(name)}`);
        return;
      }
    }
  });
}

const STREAM_COLUMNS: Column<StreamInfo>[] = [
  ["NAME", (s) => s.name],
  ["MESSAGES", (s) => String(s.messages)],
  ["BYTES", (s) => String(s.bytes)],
  ["FIRST", (s) => String(s.firstOffset)],
  ["NEXT", (s) => String(s.nextOffset)],
  ["READERS", (s) => String(s.readers)],
  ["TOPICS", (s) => s.topics.join(",")],
];

// --- queue -------------------------------------------------------------------

/** The subcommands of `mb queue`, with the options each takes. */
const QUEUE_SUBCOMMANDS: Record<string, readonly OptionName[]> = {
  ls: ["json"],
  info: [],
  declare: ["topic", "ack-wait-ms", "max-deliver", "dead-letter", "max-bytes"],
  send: ["topic", "header"],
  rm: [],
  purge: [],
};

/** `mb queue SUBCOMMAND`: manages queues and sends to them; returns the exit status. */
export async function runQueue(context: Context): Promise<number> {
  const { values } = context;
  const [sub, name, data] = subcommand(context, "queue", QUEUE_SUBCOMMANDS);
  let declare: QueueDeclareOptions | undefined;
  if (sub === "declare") {
    for (const topic of values.topic ?? []) checkPattern(topic, "queue");
    const deadLetter = values["dead-letter"];
    if (deadLetter !== undefined) checkName(deadLetter, "--dead-letter", "queue");
    declare = {
      topics: values.topic,
      ackWaitMs: integer(values["ack-wait-ms"], "--ack-wait-ms", 1, "queue"),
      maxDeliver: integer(values["max-deliver"], "--max-deliver", 1, "queue"),
      deadLetter,
      maxBytes: integer(values["max-bytes"], "--max-bytes", 0, "queue"),
    };
  }
  let topic: string | undefined;
  if (sub === "send") {
    if ((values.topic?.length ?? 0) > 1) {
      throw new UsageError("Cannot send with more than one --topic", "queue");
    }
    topic = values.topic?.[0];
    if (topic !== undefined) checkTopic(topic, "queue");
  }
  const sendHeaders = headers(values.header, "queue");
  const payload = sub !== "send"
    ? undefined
    : data === undefined || data === "-"
    ? await new Response(Deno.stdin.readable).bytes()
    : data;

  return await withClient(context, async (client, out) => {
    switch (sub) {
      case "ls":
        printTable(out, await client.queues.list(), values.json === true, QUEUE_COLUMNS);
        return;
      case "info":
        out.line(JSON.stringify(await client.queues.info(name), null, 2));
        return;
      case "declare":
        out.line(JSON.stringify(await client.queues.declare(name, declare), null, 2));
        return;
      case "send": {
        const id = await client.queues.send(name, payload!, { topic, headers: sendHeaders });
        out.line(String(id));
        return;
      }
      case "rm":
        await client.queues.delete(name);
        if (context.verbose) console.error(`Deleted queue ${quote(name)}`);
        return;
      case "purge": {
        const purged = await client.queues.purge(name);
        out.line(`Purged ${plural(purged, "message")} from queue ${quote(name)}`);
        return;
      }
    }
  });
}

const QUEUE_COLUMNS: Column<QueueInfo>[] = [
  ["NAME", (q) => q.name],
  ["MESSAGES", (q) => String(q.messages)],
  ["IN-FLIGHT", (q) => String(q.inFlight)],
  ["CONSUMERS", (q) => String(q.consumers)],
  ["DEAD-LETTERED", (q) => String(q.deadLettered)],
  ["TOPICS", (q) => (q.topics ?? []).join(",")],
];

// --- shared ------------------------------------------------------------------

/**
 * The subcommand and its arguments: `ls` takes none, `send` a name and
 * optional data, the rest exactly a name (checked). Refuses the command's
 * options that the subcommand does not take.
 */
function subcommand(
  context: Context,
  command: CommandName,
  known: Record<string, readonly OptionName[]>,
): [string, string, string | undefined] {
  const [sub, ...rest] = context.args;
  if (sub === undefined) throw new UsageError("Missing SUBCOMMAND", command);
  if (!Object.hasOwn(known, sub)) {
    throw new UsageError(
      `Unknown subcommand ${quote(sub)}: use ${Object.keys(known).join(", ")}`,
      command,
    );
  }
  for (const option of COMMANDS[command].options) {
    if (context.values[option] !== undefined && !known[sub].includes(option)) {
      throw new UsageError(
        `Option '--${option}' does not apply to "mb ${command} ${sub}"`,
        command,
      );
    }
  }
  if (sub === "ls") {
    positionals(rest, 0, 0, command, "NAME");
    return [sub, "", undefined];
  }
  const [name, data] = positionals(rest, 1, sub === "send" ? 2 : 1, command, "NAME");
  checkName(name, "NAME", command);
  return [sub, name, data];
}

function checkName(name: string, what: string, command: CommandName): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new UsageError(`Invalid ${what} ${quote(name)}: ${problem}`, command);
  }
}

function checkPattern(pattern: string, command: CommandName): void {
  const problem = patternProblem(pattern);
  if (problem !== undefined) {
    throw new UsageError(`Invalid --topic ${quote(pattern)}: ${problem}`, command);
  }
}

/** A column of `ls`: its header and how a row's cell is made. */
type Column<T> = [string, (row: T) => string];

/** Prints rows as aligned columns, or as one JSON object per line. */
function printTable<T>(out: Stdout, rows: T[], json: boolean, columns: Column<T>[]): void {
  if (json) {
    for (const row of rows) out.line(JSON.stringify(row));
    return;
  }
  const cells = [columns.map(([header]) => header)];
  for (const row of rows) cells.push(columns.map(([, cell]) => cell(row)));
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  for (const line of cells) {
    out.line(
      line.map((cell, i) => i === line.length - 1 ? cell : cell.padEnd(widths[i])).join("  "),
    );
  }
}

/** Connects, runs `work` with a stdout, flushes it and closes; exit status 0. */
async function withClient(
  context: Context,
  work: (client: Client, out: Stdout) => Promise<void>,
): Promise<number> {
  const connection = await connectClient(context);
  const out = new Stdout();
  try {
    await work(connection.client, out);
    return 0;
  } finally {
    out.flush();
    await closeClient(connection);
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
