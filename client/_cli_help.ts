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
export type CommandName = "pub" | "sub" | "req";

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
exits 0.`,
    options: ["count", "queue", "json"],
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
