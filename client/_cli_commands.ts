// Copyright mb authors. MIT license.

/**
 * The `mb` commands `pub`, `sub` and `req`, and what every command shares:
 * checking arguments, connecting and closing, reporting the connection's
 * status, and writing stdout. The stream and queue commands are in
 * `_cli_durable.ts`.
 *
 * @module
 */

import { MbError } from "../protocol/errors.ts";
import { patternProblem, queueGroupProblem, topicProblem } from "../protocol/topic.ts";
import type { Client } from "./client.ts";
import { connect } from "./connect.ts";
import type { Message } from "./message.ts";
import type { ConnectOptions, StatusEvent } from "./options.ts";
import type { StreamFrom } from "./subscription.ts";
import { type CommandName, type OptionValues, quote, UsageError } from "./_cli_help.ts";

/** How long closing may take to flush and say goodbye. */
const CLOSE_TIMEOUT_MS = 2000;
/** Buffered stdout characters that trigger a write before the tick ends. */
const FLUSH_CHARS = 64 * 1024;
const INTEGER_REGEXP = /^\d+$/;
/** What `--from` takes besides an offset and a date. */
const NAMED_STARTS: readonly string[] = ["first", "last", "new"];
const encoder = new TextEncoder();

/** What a command gets to run. */
export interface Context {
  /** Parsed option values. */
  values: OptionValues;
  /** Positional arguments after the command name. */
  args: string[];
  /** Server URLs to try, in order. */
  servers: string[];
  /** `--verbose`. */
  verbose: boolean;
}

// --- pub ---------------------------------------------------------------------

/** `mb pub`: publishes MESSAGE, or each line of stdin; returns the exit status. */
export async function runPub(context: Context): Promise<number> {
  const { values, args } = context;
  const [topic, message] = positionals(args, 1, 2, "pub", "TOPIC");
  checkTopic(topic, "pub");
  const fromStdin = message === undefined || message === "-";
  if (fromStdin && values.count !== undefined) {
    throw new UsageError("Cannot use --count with stdin: it repeats MESSAGE", "pub");
  }
  const count = integer(values.count, "--count", 1, "pub") ?? 1;
  const interval = integer(values.interval, "--interval", 0, "pub") ?? 0;
  const options = { headers: headers(values.header, "pub"), confirm: values.confirm === true };

  const connection = await connectClient(context);
  const client = connection.client;
  try {
    let sent = 0;
    for await (const payload of fromStdin ? stdinLines() : repeat(message, count)) {
      if (sent > 0 && interval > 0) await delay(interval);
      await client.publish(topic, payload, options);
      sent++;
    }
    await client.flush();
    if (context.verbose) {
      console.error(`Published ${sent} message${sent === 1 ? "" : "s"} to ${quote(topic)}`);
    }
    return 0;
  } finally {
    await closeClient(connection);
  }
}

function* repeat(message: string, count: number): Generator<string> {
  for (let i = 0; i < count; i++) yield message;
}

async function* stdinLines(): AsyncGenerator<string> {
  let buffered = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let start = 0;
    let newline;
    while ((newline = buffered.indexOf("\n", start)) >= 0) {
      yield withoutCr(buffered.slice(start, newline));
      start = newline + 1;
    }
    buffered = buffered.slice(start);
  }
  if (buffered !== "") yield withoutCr(buffered);
}

function withoutCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

// --- sub ---------------------------------------------------------------------

/** `mb sub`: prints the messages on PATTERN until stopped; returns the exit status. */
export async function runSub(context: Context): Promise<number> {
  const { values, args } = context;
  const [pattern] = positionals(args, 1, 1, "sub", "PATTERN");
  const problem = patternProblem(pattern);
  if (problem !== undefined) {
    throw new UsageError(`Invalid PATTERN ${quote(pattern)}: ${problem}`, "sub");
  }
  const count = integer(values.count, "--count", 1, "sub");
  const queue = values.queue ?? "";
  const queueProblem = queueGroupProblem(queue);
  if (queueProblem !== undefined) {
    throw new UsageError(
      `Invalid queue group ${quote(queue)}: ${queueProblem}`,
      "sub",
    );
  }
  const json = values.json === true;
  const stream = values.stream;
  if (stream === undefined && values.from !== undefined) {
    throw new UsageError("Cannot use --from without --stream", "sub");
  }
  if (stream !== undefined && queue !== "") {
    throw new UsageError("Cannot use --queue with --stream", "sub");
  }
  const from = startPosition(values.from);

  const connection = await connectClient(context, true);
  const client = connection.client;
  const sub = stream === undefined
    ? client.subscribe(pattern, { queue, max: count })
    : client.subscribe(pattern, { stream, from, max: count });
  let stopped = false;
  const stop = () => {
    stopped = true;
    sub.unsubscribe().catch(() => {});
  };
  const out = new Stdout(stop);
  const removeSignalListeners = onStopSignal(stop);
  let received = 0;
  try {
    // A refusal ends the subscription: the loop below throws it.
    const refused = await sub.ready.then(() => false, () => true);
    if (!refused) {
      const group = queue === "" ? "" : ` in queue group ${quote(queue)}`;
      const source = stream === undefined ? "" : ` on stream ${quote(stream)}`;
      console.error(`Subscribed to ${quote(pattern)}${group}${source}`);
    }
    for await (const message of sub) {
      if (json) out.line(toJson(message));
      else if (stream === undefined) out.line(`${message.topic} ${message.text()}`);
      else out.line(`${message.offset} ${message.topic} ${message.text()}`);
      received++;
    }
    out.flush();
    if (client.isClosed) {
      const error = await client.closed;
      if (error !== undefined) throw error;
    }
    if (!stopped && received < (count ?? Infinity)) {
      throw new MbError("CONNECTION_CLOSED", `The subscription to ${quote(pattern)} ended`);
    }
    return 0;
  } finally {
    removeSignalListeners();
    out.flush();
    await closeClient(connection);
  }
}

/** `--from`: an offset, a named start, or an ISO date. */
function startPosition(value: string | undefined): StreamFrom | undefined {
  if (value === undefined) return undefined;
  if (INTEGER_REGEXP.test(value)) {
    const offset = Number(value);
    if (Number.isSafeInteger(offset)) return offset;
  } else if (NAMED_STARTS.includes(value)) return value as "first" | "last" | "new";
  else if (/^\d{4}-\d\d-\d\d/.test(value)) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new UsageError(
    `Invalid --from ${quote(value)}: use an offset, first, last, new or an ISO date`,
    "sub",
  );
}

/**
 * A message as one JSON line: topic, data, headers, and the reply-to,
 * offset and timestamp when set, plus `extra` fields.
 */
export function toJson(message: Message, extra?: Record<string, unknown>): string {
  const record: Record<string, unknown> = {
    topic: message.topic,
    data: message.text(),
    headers: message.headers,
  };
  if (message.replyTo !== "") record.replyTo = message.replyTo;
  if (message.offset !== undefined) record.offset = message.offset;
  if (message.timestamp !== undefined) record.timestamp = message.timestamp;
  return JSON.stringify(extra === undefined ? record : { ...record, ...extra });
}

/** Calls `stop` on SIGINT and SIGTERM; returns a function that stops listening. */
function onStopSignal(stop: () => void): () => void {
  const added: Deno.Signal[] = [];
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, stop);
      added.push(signal);
    } catch {
      // Not available on this platform (SIGTERM on Windows).
    }
  }
  return () => {
    for (const signal of added) Deno.removeSignalListener(signal, stop);
  };
}

// --- req ---------------------------------------------------------------------

/** `mb req`: sends a request and prints the reply; returns the exit status. */
export async function runReq(context: Context): Promise<number> {
  const { values, args } = context;
  const [topic, message = ""] = positionals(args, 1, 2, "req", "TOPIC");
  checkTopic(topic, "req");
  const timeoutMs = integer(values.timeout, "--timeout", 1, "req") ?? 5000;
  const requestHeaders = headers(values.header, "req");
  const payload = message === "-" ? await new Response(Deno.stdin.readable).bytes() : message;

  const connection = await connectClient(context);
  try {
    const reply = await connection.client.request(topic, payload, {
      headers: requestHeaders,
      timeoutMs,
    });
    const out = new Stdout();
    out.line(reply.text());
    out.flush();
    return 0;
  } finally {
    await closeClient(connection);
  }
}

// --- shared ------------------------------------------------------------------

/** The positional arguments, if there are `min` to `max` of them (else a usage error). */
export function positionals(
  args: string[],
  min: number,
  max: number,
  command: CommandName,
  first: string,
): string[] {
  if (args.length < min) throw new UsageError(`Missing ${first}`, command);
  if (args.length > max) {
    throw new UsageError(`Unexpected argument ${quote(args[max])}`, command);
  }
  return args;
}

/** Refuses a topic that is not valid (or has wildcards) with a usage error. */
export function checkTopic(topic: string, command: CommandName): void {
  const problem = topicProblem(topic);
  if (problem !== undefined) {
    throw new UsageError(`Invalid TOPIC ${quote(topic)}: ${problem}`, command);
  }
}

/** An option's integer value of at least `min`, or `undefined` when not given. */
export function integer(
  value: string | undefined,
  flag: string,
  min: number,
  command: CommandName,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!INTEGER_REGEXP.test(value) || number < min || !Number.isSafeInteger(number)) {
    const kind = min > 0 ? "a positive integer" : "a non-negative integer";
    throw new UsageError(`Invalid ${flag} ${quote(value)}: use ${kind}`, command);
  }
  return number;
}

/** `--header K=V` pairs as a record, or `undefined` when none were given. */
export function headers(
  pairs: string[] | undefined,
  command: CommandName,
): Record<string, string> | undefined {
  if (pairs === undefined) return undefined;
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) {
      throw new UsageError(`Invalid --header ${quote(pair)}: use KEY=VALUE`, command);
    }
    result[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return result;
}

/** A client, and whether it is connected right now (not reconnecting). */
export interface Connection {
  client: Client;
  connected: boolean;
}

/**
 * Connects with the global options. Disconnects and reconnects are reported
 * on stderr when `reportReconnects` (for `mb sub`) or `--verbose`.
 */
export async function connectClient(
  context: Context,
  reportReconnects = false,
): Promise<Connection> {
  const { values, verbose } = context;
  const caCerts = values.ca === undefined ? undefined : await Promise.all(
    values.ca.map((path) =>
      Deno.readTextFile(path).catch((cause) => {
        throw new MbError(
          "INVALID_ARGUMENT",
          `Cannot read CA certificate ${quote(path)}: ${cause.message}`,
          { cause },
        );
      })
    ),
  );
  const options: ConnectOptions = {
    name: values.name ?? "mb-cli",
    token: values.token ?? Deno.env.get("MB_TOKEN"),
    caCerts,
  };
  const state = { connected: true };
  options.onStatus = (event) => {
    if (event.type === "disconnect") state.connected = false;
    else if (event.type === "reconnect") state.connected = true;
    if (reportReconnects || verbose) reportStatus(event, verbose);
  };
  const client = await connect(context.servers, options);
  if (verbose) console.error(`Connected to ${client.server}`);
  return Object.assign(state, { client });
}

function reportStatus(event: StatusEvent, verbose: boolean): void {
  switch (event.type) {
    case "disconnect": {
      const why = event.error === undefined ? "" : `: ${describe(event.error)}`;
      console.error(`mb: disconnected from ${event.server}${why}`);
      return;
    }
    case "reconnect":
      console.error(`mb: reconnected to ${event.server}`);
      return;
    case "reconnecting":
      if (verbose) {
        console.error(
          `mb: reconnecting to ${event.server} in ${Math.round(event.delayMs)} ms ` +
            `(attempt ${event.attempt})`,
        );
      }
      return;
    case "error":
      if (verbose) console.error(`mb: ${describe(event.error)}`);
      return;
    case "close":
      return;
  }
}

/**
 * Drains the client (bounded by {@linkcode CLOSE_TIMEOUT_MS}), then closes
 * it. A client waiting to reconnect has nothing to drain into: it just
 * closes.
 */
export async function closeClient({ client, connected }: Connection): Promise<void> {
  if (!connected) return await client.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS));
  try {
    await Promise.race([client.drain().catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
  }
  await client.close();
}

/**
 * Lines for stdout, written with one system call per tick (or sooner past
 * {@linkcode FLUSH_CHARS}), so a busy subscription is not a write per
 * message.
 */
export class Stdout {
  #parts: string[] = [];
  #chars = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #broken = false;
  #onBroken: (() => void) | undefined;

  /** @param onBroken Called once if the reader goes away (a broken pipe). */
  constructor(onBroken?: () => void) {
    this.#onBroken = onBroken;
  }

  line(text: string): void {
    if (this.#broken) return;
    this.#parts.push(text, "\n");
    this.#chars += text.length + 1;
    if (this.#chars >= FLUSH_CHARS) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), 0);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#parts.length === 0) return;
    const bytes = encoder.encode(this.#parts.join(""));
    this.#parts = [];
    this.#chars = 0;
    try {
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      this.#broken = true;
      this.#onBroken?.();
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Describes an error for stderr: `CODE: message` for an {@linkcode MbError}. */
export function describe(error: unknown): string {
  if (error instanceof MbError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
