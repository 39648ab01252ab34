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
 * mb stream create orders --topic 'orders/#'
 * mb sub 'orders/#' --stream orders --from first   # replay, then follow
 * mb queue declare emails
 * mb queue send emails '{"to":"a@example.com"}'
 * mb pull emails --max 10 --wait 5000 # take, print and ack messages
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
import { CLIENT_VERSION } from "./handshake.ts";
import { type Context, describe, runPub, runReq, runSub } from "./_cli_commands.ts";
import { runPull, runQueue, runStream } from "./_cli_durable.ts";
import {
  type CommandName,
  COMMANDS,
  DEFAULT_SERVER,
  GLOBAL_OPTIONS,
  helpText,
  isCommandName,
  type OptionName,
  PARSE_CONFIG,
  quote,
  UsageError,
  usageText,
} from "./_cli_help.ts";

/** What runs each command. */
const RUNNERS: Record<CommandName, (context: Context) => Promise<number>> = {
  pub: runPub,
  sub: runSub,
  req: runReq,
  pull: runPull,
  stream: runStream,
  queue: runQueue,
};

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
      // commandNamed throws for an unknown command.
      console.log(helpText(rest[0] === undefined ? undefined : commandNamed(rest[0])));
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
      console.log(helpText(command));
      return 0;
    }
    for (const token of parsed.tokens) {
      if (token.kind !== "option") continue;
      const option = token.name as OptionName;
      if (!GLOBAL_OPTIONS.includes(option) && !COMMANDS[command].options.includes(option)) {
        throw new UsageError(
          `Option '${token.rawName}' does not apply to "mb ${command}"`,
          command,
        );
      }
    }
    return await RUNNERS[command]({
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
    return parseArgs({ args, ...PARSE_CONFIG });
  } catch (error) {
    // node:util's messages name the option; keep the first sentence.
    const message = error instanceof Error ? error.message.split(". ")[0] : String(error);
    throw new UsageError(message, args.find(isCommandName));
  }
}

function commandNamed(name: string): CommandName {
  if (!isCommandName(name)) throw new UsageError(`Unknown command ${quote(name)}`);
  return name;
}

/** The `--server` URLs, else `$MB_SERVER`'s, else {@linkcode DEFAULT_SERVER}. */
function serverList(given: string[] | undefined): string[] {
  const list = (given ?? [Deno.env.get("MB_SERVER") ?? ""])
    .flatMap((servers) => servers.split(","))
    .map((server) => server.trim())
    .filter((server) => server !== "");
  return list.length > 0 ? list : [DEFAULT_SERVER];
}

if (import.meta.main) Deno.exit(await main(Deno.args));
