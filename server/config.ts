// Copyright mb authors. MIT license.

import { parseArgs } from "node:util";
import { MbError } from "../protocol/errors.ts";
import type { QueueConfig, StreamConfig } from "../protocol/durable.ts";
import type { BrokerOptions } from "./broker.ts";

/** Log levels accepted by `--log-level`. */
export type LogLevel = "trace" | "debug" | "info" | "warning" | "error" | "fatal";

/** Everything the command line decides. */
export interface ServerConfig {
  /** Options for the broker, certificate files already read. */
  broker: BrokerOptions;
  /** Lowest level logged. */
  logLevel: LogLevel;
  /** Log line format. */
  logFormat: "text" | "json";
}

type Kind = "string" | "number" | "boolean" | "port";

interface Setting {
  /** The flag, without dashes. */
  flag: string;
  /** The key in the JSON config file. */
  key: string;
  kind: Kind;
  help: string;
  choices?: readonly string[];
  /** A port that also takes `off` (or `null`/`false` in the config file). */
  canTurnOff?: boolean;
}

/** The value of a port setting that turns its listener off. */
const OFF = "off";

const SETTINGS: readonly Setting[] = [
  { flag: "host", key: "host", kind: "string", help: "address to bind (default 0.0.0.0)" },
  { flag: "port", key: "port", kind: "port", help: "TCP port, 0 for any free one (default 4150)" },
  {
    flag: "tls-cert",
    key: "tlsCert",
    kind: "string",
    help: "certificate chain (PEM file); adds a TLS listener",
  },
  { flag: "tls-key", key: "tlsKey", kind: "string", help: "private key (PEM file) for --tls-cert" },
  { flag: "tls-port", key: "tlsPort", kind: "port", help: "TLS port (default 4151)" },
  { flag: "unix", key: "unix", kind: "string", help: "path of a unix socket to listen on too" },
  {
    flag: "http-port",
    key: "httpPort",
    kind: "port",
    canTurnOff: true,
    help: "WebSocket and HTTP port (WSS/HTTPS with --tls-cert), 0 for any free one, off for " +
      "none (default 4180)",
  },
  {
    flag: "allowed-origins",
    key: "allowedOrigins",
    kind: "string",
    help: "comma-separated origins of web pages besides the broker's own that may use " +
      "WebSockets and POST/PUT/DELETE, * for any (default none)",
  },
  {
    flag: "mqtt-port",
    key: "mqttPort",
    kind: "port",
    canTurnOff: true,
    help: "MQTT 3.1.1 port (also MQTT over WebSocket at /mqtt on --http-port), 0 or off for " +
      "none (default 1883)",
  },
  {
    flag: "mqtt-tls-port",
    key: "mqttTlsPort",
    kind: "port",
    canTurnOff: true,
    help: "MQTT over TLS port with --tls-cert, 0 or off for none (default 8883)",
  },
  {
    flag: "mqtt-max-inflight",
    key: "mqttMaxInflight",
    kind: "number",
    help: "QoS 1 and 2 messages in flight per MQTT client (default 100)",
  },
  {
    flag: "mqtt-max-queued",
    key: "mqttMaxQueued",
    kind: "number",
    help: "QoS 1 and 2 messages kept per MQTT client while away; more are dropped (default 1000)",
  },
  {
    flag: "sys-interval",
    key: "sysInterval",
    kind: "number",
    canTurnOff: true,
    help:
      "ms between the broker's $SYS/broker/... figures (retained), off for none (default 10000)",
  },
  {
    flag: "token",
    key: "token",
    kind: "string",
    help: "token clients must present (MQTT clients as their password)",
  },
  {
    flag: "max-payload",
    key: "maxPayload",
    kind: "number",
    help: "largest payload in bytes (default 1048576)",
  },
  {
    flag: "max-subscriptions",
    key: "maxSubscriptions",
    kind: "number",
    help: "subscriptions per connection (default 10000)",
  },
  {
    flag: "max-connections",
    key: "maxConnections",
    kind: "number",
    help: "open connections (default 65536)",
  },
  {
    flag: "max-pending",
    key: "maxPending",
    kind: "number",
    help: "outbound bytes buffered per connection (default 67108864)",
  },
  {
    flag: "slow-consumer",
    key: "slowConsumer",
    kind: "string",
    help: "drop | disconnect (default disconnect)",
    choices: ["drop", "disconnect"],
  },
  {
    flag: "handshake-timeout",
    key: "handshakeTimeout",
    kind: "number",
    help: "ms to wait for a client's hello (default 5000)",
  },
  {
    flag: "ping-interval",
    key: "pingInterval",
    kind: "number",
    help: "ms between pings to idle clients (default 30000)",
  },
  { flag: "name", key: "name", kind: "string", help: "server name (default mb)" },
  {
    flag: "data",
    key: "data",
    kind: "string",
    help: "directory of streams and queues (default ./data); :memory: keeps them in memory",
  },
  {
    flag: "fsync",
    key: "fsync",
    kind: "string",
    help: "always | interval | never: when stored messages reach the disk (default always)",
    choices: ["always", "interval", "never"],
  },
  {
    flag: "fsync-interval",
    key: "fsyncInterval",
    kind: "number",
    help: "ms between syncs with --fsync interval (default 1000)",
  },
  {
    flag: "max-disk-bytes",
    key: "maxDiskBytes",
    kind: "number",
    help: "bytes on disk per stream or queue log; more is refused (default no limit)",
  },
  {
    flag: "log-level",
    key: "logLevel",
    kind: "string",
    help: "trace | debug | info | warning | error | fatal (default info)",
    choices: ["trace", "debug", "info", "warning", "error", "fatal"],
  },
  {
    flag: "log-format",
    key: "logFormat",
    kind: "string",
    help: "text | json (default text)",
    choices: ["text", "json"],
  },
];

/** The text `--help` prints. */
export const HELP: string = `mb-server: the mb message broker

Usage: deno run -A server/main.ts [options]

Options (each also as MB_<NAME> in the environment, e.g. MB_PORT=4150,
and as a camelCase key in the --config JSON file; flags win over the
environment, which wins over the file):
${SETTINGS.map((s) => `  --${s.flag.padEnd(20)} ${s.help}`).join("\n")}
  --config PATH          JSON file with any of the settings above, plus
                         "streams" and "queues": lists of stream and
                         queue definitions created at start
  --help                 show this help
  --version              print the version
`;

/** What {@linkcode parseServerArgs} found besides the settings. */
export interface ParsedArgs {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** Settings from flags, environment and file, merged. */
  values: Record<string, string | number>;
  /** Streams defined in the config file. */
  streams?: StreamConfig[];
  /** Queues defined in the config file. */
  queues?: QueueConfig[];
}

/**
 * Reads flags, `MB_*` environment variables and an optional JSON config
 * file, in that order of precedence.
 *
 * @param args Command-line arguments.
 * @param env Environment variables.
 * @param readTextFile Reads the config file.
 * @returns The merged settings.
 * @throws {MbError} `INVALID_ARGUMENT` for an unknown flag, a bad value or
 * an unreadable config file.
 */
export function parseServerArgs(
  args: string[],
  env: Record<string, string>,
  readTextFile: (path: string) => string,
): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean" }> = {
    config: { type: "string" },
    help: { type: "boolean" },
    version: { type: "boolean" },
  };
  for (const setting of SETTINGS) options[setting.flag] = { type: "string" };
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (cause) {
    throw new MbError("INVALID_ARGUMENT", `Invalid arguments: ${(cause as Error).message}`, {
      cause,
    });
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const values: Record<string, string | number> = {};
  const definitions: { streams?: StreamConfig[]; queues?: QueueConfig[] } = {};
  const configPath = (flags.config as string | undefined) ?? env.MB_CONFIG;
  if (configPath !== undefined) {
    let file: Record<string, unknown>;
    try {
      file = JSON.parse(readTextFile(configPath));
    } catch (cause) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Cannot read config file ${JSON.stringify(configPath)}: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (file === null || typeof file !== "object" || Array.isArray(file)) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Invalid config file ${JSON.stringify(configPath)}: not a JSON object`,
      );
    }
    for (const [key, value] of Object.entries(file)) {
      if (key === "streams" || key === "queues") {
        if (!Array.isArray(value)) {
          throw new MbError(
            "INVALID_ARGUMENT",
            `Invalid config file ${JSON.stringify(configPath)}: ${key} is not a list`,
          );
        }
        definitions[key] = value;
        continue;
      }
      const setting = SETTINGS.find((s) => s.key === key);
      if (setting === undefined) {
        throw new MbError(
          "INVALID_ARGUMENT",
          `Invalid config file ${JSON.stringify(configPath)}: unknown key ${JSON.stringify(key)}`,
        );
      }
      const raw = setting.canTurnOff && (value === null || value === false) ? OFF : String(value);
      values[setting.flag] = convert(setting, raw, `config key ${key}`);
    }
  }
  for (const setting of SETTINGS) {
    const name = `MB_${setting.flag.toUpperCase().replaceAll("-", "_")}`;
    if (env[name] !== undefined && env[name] !== "") {
      values[setting.flag] = convert(setting, env[name], name);
    }
  }
  for (const setting of SETTINGS) {
    const value = flags[setting.flag];
    if (typeof value === "string") {
      values[setting.flag] = convert(setting, value, `--${setting.flag}`);
    }
  }
  return { help: flags.help === true, version: flags.version === true, values, ...definitions };
}

/**
 * Turns merged settings into broker options, reading certificate files.
 *
 * @param parsed What {@linkcode parseServerArgs} returned.
 * @param readTextFile Reads certificate files.
 * @returns The configuration.
 * @throws {MbError} `INVALID_ARGUMENT` when only one of the TLS files is set
 * or a file cannot be read.
 */
export function toServerConfig(
  parsed: Pick<ParsedArgs, "values" | "streams" | "queues">,
  readTextFile: (path: string) => string,
): ServerConfig {
  const values = parsed.values;
  const data = (values.data as string | undefined) ?? "./data";
  const str = (flag: string) => values[flag] as string | undefined;
  const num = (flag: string) => values[flag] as number | undefined;
  const broker: BrokerOptions = {
    hostname: str("host"),
    port: num("port"),
    httpPort: values["http-port"] === OFF ? null : num("http-port"),
    // As in Mosquitto's habit, 0 turns MQTT off here (not "any free port").
    mqttPort: values["mqtt-port"] === OFF || values["mqtt-port"] === 0 ? null : num("mqtt-port"),
    mqttTlsPort: values["mqtt-tls-port"] === OFF || values["mqtt-tls-port"] === 0
      ? null
      : num("mqtt-tls-port"),
    mqttMaxInflight: num("mqtt-max-inflight"),
    mqttMaxQueued: num("mqtt-max-queued"),
    sysIntervalMs: values["sys-interval"] === OFF ? 0 : num("sys-interval"),
    unixPath: str("unix"),
    token: str("token"),
    allowedOrigins: str("allowed-origins")?.split(",").map((origin) => origin.trim()).filter(
      (origin) => origin !== "",
    ),
    maxPayloadBytes: num("max-payload"),
    maxSubscriptions: num("max-subscriptions"),
    maxConnections: num("max-connections"),
    maxPendingBytes: num("max-pending"),
    slowConsumer: str("slow-consumer") as BrokerOptions["slowConsumer"],
    handshakeTimeoutMs: num("handshake-timeout"),
    pingIntervalMs: num("ping-interval"),
    name: str("name"),
    dataDir: data === MEMORY ? undefined : data,
    fsync: str("fsync") as BrokerOptions["fsync"],
    fsyncIntervalMs: num("fsync-interval"),
    maxDiskBytes: num("max-disk-bytes"),
    streams: parsed.streams,
    queues: parsed.queues,
  };
  const certPath = str("tls-cert");
  const keyPath = str("tls-key");
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new MbError(
      "INVALID_ARGUMENT",
      "Invalid TLS settings: --tls-cert and --tls-key go together",
    );
  }
  if (certPath !== undefined && keyPath !== undefined) {
    broker.tls = {
      cert: readFile(readTextFile, certPath),
      key: readFile(readTextFile, keyPath),
      port: num("tls-port"),
    };
  }
  return {
    broker,
    logLevel: (str("log-level") ?? "info") as LogLevel,
    logFormat: (str("log-format") ?? "text") as "text" | "json",
  };
}

/** The `--data` value that keeps streams and queues in memory. */
const MEMORY = ":memory:";

function readFile(readTextFile: (path: string) => string, path: string): string {
  try {
    return readTextFile(path);
  } catch (cause) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Cannot read ${JSON.stringify(path)}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function convert(setting: Setting, raw: string, source: string): string | number {
  if (setting.kind === "string") {
    if (setting.choices !== undefined && !setting.choices.includes(raw)) {
      throw new MbError(
        "INVALID_ARGUMENT",
        `Invalid ${source}: ${JSON.stringify(raw)} is not one of ${setting.choices.join(", ")}`,
      );
    }
    return raw;
  }
  if (setting.canTurnOff && raw === OFF) return OFF;
  const value = Number(raw);
  const max = setting.kind === "port" ? 65535 : Number.MAX_SAFE_INTEGER;
  const min = setting.kind === "port" ? 0 : 1;
  if (raw.trim() === "" || !Number.isInteger(value) || value < min || value > max) {
    const off = setting.canTurnOff ? ` or ${OFF}` : "";
    throw new MbError(
      "INVALID_ARGUMENT",
      `Invalid ${source}: ${JSON.stringify(raw)} is not an integer from ${min} to ${max}${off}`,
    );
  }
  return value;
}
