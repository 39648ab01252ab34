// Copyright mb authors. MIT license.

/**
 * The `mb-server` command: `deno run -A server/main.ts --help`.
 *
 * Prints the URL of each listener on stdout, one per line, as soon as they
 * are open (so a parent process can read the address of `--port 0`): TCP,
 * TLS, unix, then the web listener (`http://…` or `https://…`, unless
 * `--http-port off`); logs go to stderr. SIGINT and SIGTERM stop accepting,
 * say goodbye to clients, flush, and exit 0.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { MbError } from "../protocol/errors.ts";
import { Broker, type BrokerAddress } from "./broker.ts";
import { HELP, parseServerArgs, toServerConfig } from "./config.ts";
import { configureLogging } from "./logging.ts";
import { VERSION } from "./version.ts";

async function main(): Promise<number> {
  const readTextFile = (path: string) => Deno.readTextFileSync(path);
  let config;
  try {
    const parsed = parseServerArgs(Deno.args, Deno.env.toObject(), readTextFile);
    if (parsed.help) {
      console.log(HELP);
      return 0;
    }
    if (parsed.version) {
      console.log(`mb-server ${VERSION}`);
      return 0;
    }
    config = toServerConfig(parsed, readTextFile);
  } catch (error) {
    console.error(`mb-server: ${error instanceof Error ? error.message : error}`);
    console.error("Run with --help for the options.");
    return 2;
  }
  await configureLogging(config.logLevel, config.logFormat);
  const logger = getLogger(["mb", "main"]);
  const broker = new Broker(config.broker);
  try {
    await broker.start();
  } catch (error) {
    const message = error instanceof MbError || error instanceof Error
      ? error.message
      : String(error);
    logger.fatal("Cannot start: {message}", { message });
    console.error(`mb-server: cannot start: ${message}`);
    return 1;
  }
  // The web listener's URL comes after the others, which a parent may read by position.
  const isWeb = (address: BrokerAddress) =>
    address.transport === "http" || address.transport === "https";
  const addresses = broker.addresses;
  for (const address of addresses) if (!isWeb(address)) console.log(address.url);
  for (const address of addresses) if (isWeb(address)) console.log(address.url);

  const stopped = Promise.withResolvers<void>();
  const stop = (signal: Deno.Signal) => {
    logger.info("Received {signal}: shutting down", { signal });
    broker.stop().then(() => stopped.resolve());
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
