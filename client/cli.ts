// Copyright mb authors. MIT license.

/**
 * `mb`, the command-line client: publish, subscribe and send requests from a
 * shell or a script. Run it as `deno task mb ...` (or `deno run -A
 * client/cli.ts ...`, or the `dist/mb` binary that `deno task compile`
 * builds).
 *
 * ```sh
 * mb sub 'sensors/#'                  # print every message under sensors/
 * mb pub sensors/kitchen 22.5         # publish one message
 * seq 3 | mb pub jobs/new             # publish each line of stdin
 * mb req time/now                     # send a request, print the reply
 * ```
 *
 * `--server URL` (repeatable or comma-separated, else `$MB_SERVER`, else
 * `mb://127.0.0.1:4150`) picks the broker; `mb --help` and
 * `mb COMMAND --help` list every option. Messages go to stdout; progress and
 * errors go to stderr. `mb sub` prints `Subscribed to "PATTERN"` on stderr
 * once the broker has applied the subscription, so a script can wait for
 * that line before it publishes.
 *
 * Exit status: 0 on success, 1 on an error (printed as `mb: CODE: message`),
 * 2 on a usage error.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MbError } from "../protocol/errors.ts";
import { patternProblem, topicProblem } from "../protocol/topic.ts";
import type { Client } from "./client.ts";
import { connect } from "./connect.ts";
import { CLIENT_VERSION } from "./handshake.ts";
import type { Message } from "./message.ts";
import type { ConnectOptions, StatusEvent } from "./options.ts";

/** The broker `mb` talks to without `--server` or `MB_SERVER`. */
const DEFAULT_SERVER = "mb://127.0.0.1:4150";
/** How long closing may take to flush and say goodbye. */
const CLOSE_TIMEOUT_MS = 2000;
/** Buffered stdout characters that trigger a write before the tick ends. */
const FLUSH_CHARS = 64 * 1024;
const INTEGER_REGEXP = /^\d+$/;
const encoder = new TextEncoder();

const OPTIONS = {
  server: { type: "string", short: "s", multiple: true },
  token: { type: "string" },
  ca: { type: "string", multiple: true },
  name: { type: "string" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  count: { type: "string", short: "n" },
  interval: { type: "string" },
  header: { type: "string", short: "H", multiple: true },
  confirm: { type: "boolean" },
  json: { type: "boolean" },
  queue: { type: "string", short: "q" },
  timeout: { type: "string", short: "t" },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = ReturnType<typeof parse>["values"];

/** Flag text and description lines, for the help. */
const OPTION_HELP: Record<OptionName, [string, ...string[]]> = {
  server: [
    "-s, --server URL",
    "broker URL: mb://, tcp://, tls:// or unix://; repeat it or",
    "separate with commas to list fallbacks",
    `(default $MB_SERVER, else ${DEFAULT_SERVER})`,
  ],
  token: ["    --token TOKEN", "token the broker requires (default $MB_TOKEN)"],
  ca: ["    --ca PATH", "CA certificate (PEM file) to trust for tls:// servers"],
  name: ["    --name NAME", "client name in the broker's logs (default mb-cli)"],
  verbose: ["-v, --verbose", "report progress and reconnects on stderr"],
  help: ["-h, --help", "show help"],
  version: ["-V, --version", "print the version"],
  count: ["-n, --count N", ""],
  interval: ["    --interval MS", "wait MS milliseconds between messages (default 0)"],
  header: ["-H, --header K=V", "add a header; repeat for more"],
  confirm: ["    --confirm", "wait until the broker has accepted each message"],
  json: [
    "    --json",
    'print one JSON object per message: {"topic", "data", "headers",',
    '"replyTo" when set}',
  ],
  queue: ["-q, --queue NAME", "join queue group NAME: each message goes to one member"],
  timeout: ["-t, --timeout MS", "how long to wait for the reply (default 5000)"],
};

const GLOBAL_OPTIONS: readonly OptionName[] = [
  "server",
  "token",
  "ca",
  "name",
  "verbose",
  "help",
  "version",
];

/** What a subcommand gets to run. */
interface Context {
  /** Parsed option values. */
  values: Values;
  /** Positional arguments after the command name. */
  args: string[];
  /** Server URLs to try, in order. */
  servers: string[];
  /** `--verbose`. */
  verbose: boolean;
}

interface Command {
  /** Positional arguments, as the usage line shows them. */
  synopsis: string;
  /** One line for the command list. */
  summary: string;
  /** A paragraph for the command's help. */
  description: string;
  /** The command's own options. */
  options: readonly OptionName[];
  /** What `--count` means for this command, when it takes one. */
  count?: string;
  run(context: Context): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  pub: {
    synopsis: "TOPIC [MESSAGE]",
    summary: "publish MESSAGE, or each line of stdin, to TOPIC",
    description: `Publishes MESSAGE to TOPIC. Without MESSAGE, or with "-", publishes each
line of stdin as one message. Everything is flushed to the broker before
mb exits; nothing is printed unless --verbose.`,
    options: ["count", "interval", "header", "confirm"],
    count: "publish MESSAGE N times (default 1)",
    run: runPub,
  },
  sub: {
    synopsis: "PATTERN",
    summary: "print the messages published to PATTERN",
    description: `Prints each message on PATTERN ("+" matches one level, "#" the rest) to
stdout as "TOPIC PAYLOAD", one per line, or as JSON with --json. Once the
broker has applied the subscription, prints 'Subscribed to "PATTERN"' on
stderr. Keeps running across broker restarts; SIGINT or SIGTERM drains and
exits 0.`,
    options: ["count", "queue", "json"],
    count: "exit after N messages",
    run: runSub,
  },
  req: {
    synopsis: "TOPIC [MESSAGE]",
    summary: "send a request to TOPIC and print the reply",
    description: `Sends MESSAGE (empty if omitted; all of stdin with "-") to TOPIC as a
request and prints the payload of the first reply. Fails with NO_RESPONDERS
when nobody subscribes to TOPIC, and with TIMEOUT when no reply comes.`,
    options: ["timeout", "header"],
    run: runReq,
  },
};

/** A mistake in the command line: reported with the usage, exit status 2. */
class UsageError extends Error {
  /** The command whose usage applies, if known. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/**
 * Runs the `mb` command line and returns its exit status: 0 on success, 1
 * when the command failed (printed on stderr as `mb: CODE: message`), 2 for a
 * usage error (printed with the usage).
 *
 * @param args The arguments after the program name, like `Deno.args`.
 * @returns The exit status.
 *
 * @example Print the version
 * ```ts
 * import { main } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["--version"]), 0);
 * ```
 *
 * @example Publish a message
 * ```ts ignore
 * import { main } from "./cli.ts";
 *
 * Deno.exit(await main(["pub", "--server", "mb://127.0.0.1:4150", "sensors/kitchen", "22.5"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  try {
    const parsed = parse(args);
    const values = parsed.values;
    const [name, ...rest] = parsed.positionals;
    if (name === "help") {
      if (rest[0] !== undefined) commandNamed(rest[0]); // throws for an unknown one
      console.log(helpText(rest[0]));
      return 0;
    }
    if (values.version) {
      console.log(`mb ${CLIENT_VERSION}`);
      return 0;
    }
    if (name === undefined) {
      if (values.help) {
        console.log(helpText(undefined));
        return 0;
      }
      throw new UsageError("Missing command");
    }
    const command = commandNamed(name);
    if (values.help) {
      console.log(helpText(name));
      return 0;
    }
    for (const token of parsed.tokens) {
      if (token.kind !== "option") continue;
      const option = token.name as OptionName;
      if (!GLOBAL_OPTIONS.includes(option) && !command.options.includes(option)) {
        throw new UsageError(`Option '${token.rawName}' does not apply to "mb ${name}"`, name);
      }
    }
    return await command.run({
      values,
      args: rest,
      servers: serverList(values.server),
      verbose: values.verbose === true,
    });
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`mb: ${error.message}\n\n${usageText(error.command)}`);
      return 2;
    }
    console.error(`mb: ${describe(error)}`);
    return 1;
  }
}

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, tokens: true });
  } catch (error) {
    // node:util's messages name the option; keep the first sentence.
    const message = error instanceof Error ? error.message.split(". ")[0] : String(error);
    throw new UsageError(message, args.find((arg) => Object.hasOwn(COMMANDS, arg)));
  }
}

function commandNamed(name: string): Command {
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`Unknown command ${quote(name)}`);
  return COMMANDS[name];
}

// --- pub ---------------------------------------------------------------------

async function runPub(context: Context): Promise<number> {
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

async function runSub(context: Context): Promise<number> {
  const { values, args } = context;
  const [pattern] = positionals(args, 1, 1, "sub", "PATTERN");
  const problem = patternProblem(pattern);
  if (problem !== undefined) {
    throw new UsageError(`Invalid PATTERN ${quote(pattern)}: ${problem}`, "sub");
  }
  const count = integer(values.count, "--count", 1, "sub");
  const queue = values.queue ?? "";
  if (/[/+#]/.test(queue)) {
    throw new UsageError(
      `Invalid queue group ${quote(queue)}: '/', '+' and '#' are not allowed`,
      "sub",
    );
  }
  const json = values.json === true;

  const connection = await connectClient(context, true);
  const client = connection.client;
  const sub = client.subscribe(pattern, { queue, max: count });
  let stopped = false;
  const stop = () => {
    stopped = true;
    sub.unsubscribe().catch(() => {});
  };
  const out = new Stdout(stop);
  const removeSignalListeners = onStopSignal(stop);
  let received = 0;
  try {
    await client.flush();
    if (!sub.ended) {
      const group = queue === "" ? "" : ` in queue group ${quote(queue)}`;
      console.error(`Subscribed to ${quote(pattern)}${group}`);
    }
    for await (const message of sub) {
      out.line(json ? toJson(message) : `${message.topic} ${message.text()}`);
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

function toJson(message: Message): string {
  const record: Record<string, unknown> = {
    topic: message.topic,
    data: message.text(),
    headers: message.headers,
  };
  if (message.replyTo !== "") record.replyTo = message.replyTo;
  return JSON.stringify(record);
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

async function runReq(context: Context): Promise<number> {
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

function positionals(
  args: string[],
  min: number,
  max: number,
  command: string,
  first: string,
): string[] {
  if (args.length < min) throw new UsageError(`Missing ${first}`, command);
  if (args.length > max) {
    throw new UsageError(`Unexpected argument ${quote(args[max])}`, command);
  }
  return args;
}

function checkTopic(topic: string, command: string): void {
  const problem = topicProblem(topic);
  if (problem !== undefined) {
    throw new UsageError(`Invalid TOPIC ${quote(topic)}: ${problem}`, command);
  }
}

function integer(
  value: string | undefined,
  flag: string,
  min: number,
  command: string,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!INTEGER_REGEXP.test(value) || number < min || !Number.isSafeInteger(number)) {
    const kind = min > 0 ? "a positive integer" : "a non-negative integer";
    throw new UsageError(`Invalid ${flag} ${quote(value)}: use ${kind}`, command);
  }
  return number;
}

function headers(
  pairs: string[] | undefined,
  command: string,
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

function serverList(given: string[] | undefined): string[] {
  const list = (given ?? [Deno.env.get("MB_SERVER") ?? ""])
    .flatMap((servers) => servers.split(","))
    .map((server) => server.trim())
    .filter((server) => server !== "");
  return list.length > 0 ? list : [DEFAULT_SERVER];
}

/** A client, and whether it is connected right now (not reconnecting). */
interface Connection {
  client: Client;
  connected: boolean;
}

/**
 * Connects with the global options. Disconnects and reconnects are reported
 * on stderr when `reportReconnects` (for `mb sub`) or `--verbose`.
 */
async function connectClient(context: Context, reportReconnects = false): Promise<Connection> {
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
async function closeClient({ client, connected }: Connection): Promise<void> {
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
class Stdout {
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

function quote(value: string): string {
  return JSON.stringify(value);
}

function describe(error: unknown): string {
  if (error instanceof MbError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

// --- help --------------------------------------------------------------------

function optionLines(names: readonly OptionName[], command?: Command): string {
  const out: string[] = [];
  for (const name of names) {
    const [flag, ...description] = OPTION_HELP[name];
    if (name === "count") description[0] = command?.count ?? "";
    for (let i = 0; i < description.length; i++) {
      out.push(`  ${(i === 0 ? flag : "").padEnd(22)}${description[i]}`);
    }
  }
  return out.join("\n");
}

function commandList(): string {
  return Object.entries(COMMANDS)
    .map(([name, command]) => `  ${`${name} ${command.synopsis}`.padEnd(22)}${command.summary}`)
    .join("\n");
}

function usageText(name: string | undefined): string {
  if (name === undefined) {
    return `Usage: mb COMMAND [options] [arguments]

Commands:
${commandList()}

Run "mb --help" for the options.`;
  }
  return `Usage: mb ${name} [options] ${COMMANDS[name].synopsis}
Run "mb ${name} --help" for the options.`;
}

function helpText(name: string | undefined): string {
  if (name === undefined) {
    return `mb: the mb command-line client (version ${CLIENT_VERSION})

Usage: mb COMMAND [options] [arguments]

Commands:
${commandList()}
  help [COMMAND]        show help for a command

Options for every command:
${optionLines(GLOBAL_OPTIONS)}

Run "mb COMMAND --help" for a command's own options.
Exit status: 0 on success, 1 on an error, 2 on a usage error.`;
  }
  const command = COMMANDS[name];
  return `mb ${name}: ${command.summary}

Usage: mb ${name} [options] ${command.synopsis}

${command.description}

Options:
${optionLines(command.options, command)}

Options for every command:
${optionLines(GLOBAL_OPTIONS)}`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
