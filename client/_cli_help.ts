// Copyright mb authors. MIT license.

/**
 * What the `mb` command line accepts and the text that explains it: the
 * option table, the commands, the help and usage text, and
 * {@linkcode UsageError} for a command line that does not fit them.
 *
 * @module
 */

import type { parseArgs } from "node:util";
import { CLIENT_VERSION } from "./handshake.ts";

/** The broker `mb` talks to without `--server` or `MB_SERVER`. */
export const DEFAULT_SERVER = "mb://127.0.0.1:4150";

/** Every option `mb` accepts, as `parseArgs` takes them. */
export const OPTIONS = {
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
  stream: { type: "string" },
  from: { type: "string" },
  max: { type: "string" },
  wait: { type: "string" },
  topic: { type: "string", multiple: true },
  "max-msgs": { type: "string" },
  "max-bytes": { type: "string" },
  "max-age-ms": { type: "string" },
  "ack-wait-ms": { type: "string" },
  "max-deliver": { type: "string" },
  "dead-letter": { type: "string" },
} as const;

/** The `parseArgs` configuration `mb` parses with, less the arguments. */
export const PARSE_CONFIG = { options: OPTIONS, allowPositionals: true, tokens: true } as const;

/** The long name of an option. */
export type OptionName = keyof typeof OPTIONS;

/** The option values `parseArgs` returns for {@linkcode PARSE_CONFIG}. */
export type OptionValues = ReturnType<typeof parseArgs<typeof PARSE_CONFIG>>["values"];

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
  stream: ["    --stream NAME", "read stream NAME (stored messages, then new ones)"],
  from: [
    "    --from POSITION",
    "where --stream starts: an offset, first, last, new (default)",
    "or an ISO date like 2024-05-01T12:00:00Z",
  ],
  max: ["    --max N", "take up to N messages (default 1)"],
  wait: ["    --wait MS", "wait up to MS milliseconds for a message (default 0)"],
  topic: ["    --topic T", ""],

  "max-msgs": ["    --max-msgs N", "create: keep at most N messages"],
  "max-bytes": ["    --max-bytes N", ""],
  "max-age-ms": ["    --max-age-ms MS", "create: drop messages older than MS milliseconds"],
  "ack-wait-ms": [
    "    --ack-wait-ms MS",
    "declare: redeliver what is not acked within MS",
    "(default 30000)",
  ],
  "max-deliver": [
    "    --max-deliver N",
    "declare: deliveries before a message is dead-lettered",
    "(default 5)",
  ],
  "dead-letter": [
    "    --dead-letter Q",
    "declare: queue Q takes the messages delivered --max-deliver",
    "times (default: they are dropped)",
  ],
};

/** The options every command takes. */
export const GLOBAL_OPTIONS: readonly OptionName[] = [
  "server",
  "token",
  "ca",
  "name",
  "verbose",
  "help",
  "version",
];

/** The name of an `mb` command. */
export type CommandName = "pub" | "sub" | "req" | "pull" | "stream" | "queue";

/** How a command is used and described. */
export interface CommandHelp {
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
  /** Description lines of options that mean something else for this command. */
  overrides?: Partial<Record<OptionName, string[]>>;
}

/** The commands, in the order the help lists them. */
export const COMMANDS: Record<CommandName, CommandHelp> = {
  pub: {
    synopsis: "TOPIC [MESSAGE]",
    summary: "publish MESSAGE, or each line of stdin, to TOPIC",
    description: `Publishes MESSAGE to TOPIC. Without MESSAGE, or with "-", publishes each
line of stdin as one message. Everything is flushed to the broker before
mb exits; nothing is printed unless --verbose.`,
    options: ["count", "interval", "header", "confirm"],
    count: "publish MESSAGE N times (default 1)",
  },
  sub: {
    synopsis: "PATTERN",
    summary: "print the messages published to PATTERN",
    description: `Prints each message on PATTERN ("+" matches one level, "#" the rest) to
stdout as "TOPIC PAYLOAD", one per line, or as JSON with --json. Once the
broker has applied the subscription, prints 'Subscribed to "PATTERN"' on
stderr. Keeps running across broker restarts; SIGINT or SIGTERM drains and
exits 0.

With --stream NAME, reads that stream instead: the stored messages whose
topic matches PATTERN, from --from on, then new ones as they are stored,
each printed as "OFFSET TOPIC PAYLOAD" (JSON adds "offset" and
"timestamp"). After a broker restart it resumes after the last message
printed.`,
    options: ["count", "queue", "json", "stream", "from"],
    count: "exit after N messages",
  },
  req: {
    synopsis: "TOPIC [MESSAGE]",
    summary: "send a request to TOPIC and print the reply",
    description: `Sends MESSAGE (empty if omitted; all of stdin with "-") to TOPIC as a
request and prints the payload of the first reply. Fails with NO_RESPONDERS
when nobody subscribes to TOPIC, and with TIMEOUT when no reply comes.`,
    options: ["timeout", "header"],
  },
  pull: {
    synopsis: "QUEUE",
    summary: "take messages from QUEUE, print and ack them",
    description: `Fetches up to --max messages from QUEUE, waiting up to --wait milliseconds
for the first when the queue is empty, prints each as "TOPIC PAYLOAD" (or as
JSON with --json, adding "id", "deliveryCount" and "timestamp") and acks
them once printed. Prints nothing and exits 0 when no message came.`,
    options: ["max", "wait", "json"],
    overrides: {
      json: [
        'print one JSON object per message: {"topic", "data", "headers",',
        '"id", "deliveryCount", "timestamp", "replyTo" when set}',
      ],
    },
  },
  stream: {
    synopsis: "SUBCOMMAND",
    summary: "list, describe, create, delete or purge streams",
    description: `Manages the broker's streams:
  ls                    list the streams, one line each
  info NAME             print the stream's configuration and state as JSON
  create NAME --topic T [--max-msgs N] [--max-bytes N] [--max-age-ms MS]
                        create a stream that keeps the messages published to
                        T (repeat --topic for more patterns); prints its info
  rm NAME               delete the stream and its messages
  purge NAME            remove every message; prints how many`,
    options: ["topic", "max-msgs", "max-bytes", "max-age-ms", "json"],
    overrides: {
      topic: ["create: store the messages published to T; repeat it"],
      "max-bytes": ["create: keep at most N bytes"],
      json: ["ls: print one JSON object per stream"],
    },
  },
  queue: {
    synopsis: "SUBCOMMAND",
    summary: "list, describe, declare, send to, delete or purge queues",
    description: `Manages the broker's work queues:
  ls                    list the queues, one line each
  info NAME             print the queue's configuration and state as JSON
  declare NAME [--topic T] [--ack-wait-ms MS] [--max-deliver N]
               [--dead-letter Q] [--max-bytes N]
                        create the queue (or check an existing one); prints
                        its info
  send NAME [DATA]      put DATA (all of stdin without DATA or with "-") on
                        the queue; prints its message id
  rm NAME               delete the queue and its messages
  purge NAME            remove every waiting message; prints how many

Take messages from a queue with "mb pull".`,
    options: [
      "topic",
      "ack-wait-ms",
      "max-deliver",
      "dead-letter",
      "max-bytes",
      "header",
      "json",
    ],
    overrides: {
      topic: ["declare: also take the messages published to T", "send: record topic T"],
      "max-bytes": ["declare: refuse sends while the queue holds N bytes"],
      header: ["send: add a header; repeat for more"],
      json: ["ls: print one JSON object per queue"],
    },
  },
};

/** Whether `name` is one of the {@linkcode COMMANDS}. */
export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** A mistake in the command line: reported with the usage, exit status 2. */
export class UsageError extends Error {
  /** The command whose usage applies, if known. */
  readonly command: CommandName | undefined;

  /**
   * @param message What is wrong.
   * @param command The command whose usage applies, if known.
   */
  constructor(message: string, command?: CommandName) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** Quotes a value (a topic, an argument) for a message, as a JSON string. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

function optionLines(names: readonly OptionName[], command?: CommandHelp): string {
  const out: string[] = [];
  for (const name of names) {
    const [flag, ...description] = OPTION_HELP[name];
    if (name === "count") description[0] = command?.count ?? "";
    const override = command?.overrides?.[name];
    if (override !== undefined) description.splice(0, description.length, ...override);
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

/** The short usage printed after a usage error, for `name` or for `mb` as a whole. */
export function usageText(name: CommandName | undefined): string {
  if (name === undefined) {
    return `Usage: mb COMMAND [options] [arguments]

Commands:
${commandList()}

Run "mb --help" for the options.`;
  }
  return `Usage: mb ${name} [options] ${COMMANDS[name].synopsis}
Run "mb ${name} --help" for the options.`;
}

/** The full help for command `name`, or for `mb` as a whole. */
export function helpText(name: CommandName | undefined): string {
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
