// Copyright mb authors. MIT license.
// The brokers under test: how to start each on a free loopback port with
// persistence off (or, for mb's store rows, a fresh data directory), pinned
// to core 0; how to tell its version; how to stop it.

import { VERSION as MB_VERSION } from "../server/version.ts";
import { signal, track, trackDir } from "./children.ts";
import { findExecutable, run } from "./commands.ts";
import type { ProtocolName } from "./protocols/mod.ts";
import type { StoreSetup } from "./workloads.ts";

/** Repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/** Broker ids, as used by `--only`. */
export type BrokerId = "mb" | "nats" | "mosquitto" | "redis" | "aedes";

/** An executable a broker needs and the Debian package that provides it. */
export interface Requirement {
  /** Executable name. */
  command: string;
  /** Debian package. */
  apt: string;
}

/** One broker the benchmark can run. */
export interface BrokerSpec {
  /** Id for `--only` and results.json. */
  id: BrokerId;
  /** Column title. */
  label: string;
  /** The wire protocol the load generator speaks to it. */
  protocol: ProtocolName;
  /** Executables it needs. */
  requires: Requirement[];
  /** Whether it needs the npm packages of bench/peers (Aedes). */
  needsNpmPeers: boolean;
  /**
   * The command line that starts it in the foreground.
   *
   * @param host Loopback address to bind.
   * @param port Port to listen on.
   * @param dir A private temporary directory for config and data.
   * @param store For mb's store rows: keep streams and queues in `dir` with
   * this fsync policy. Without it, persistence is off.
   * @param httpPort mb only: the web listener's port (WebSocket and HTTP API).
   * Without it, mb runs with `--http-port off`.
   * @param mqttPort mb only: its MQTT listener's port; without it `--mqtt-port off`.
   */
  argv(
    host: string,
    port: number,
    dir: string,
    store?: StoreSetup,
    httpPort?: number,
    mqttPort?: number,
  ): Promise<string[]>;
  /** Whether it has mb's web listener (WebSocket and HTTP API). */
  web: boolean;
  /** Its version, as one short string. */
  version(): Promise<string>;
}

function executable(name: string): string {
  const path = findExecutable(name);
  if (path === undefined) throw new Error(`Cannot find ${name} on PATH or in /usr/sbin`);
  return path;
}

async function firstLine(command: string, args: string[]): Promise<string> {
  const path = findExecutable(command);
  if (path === undefined) return "not installed";
  const output = await run(path, args);
  return (output.stdout + output.stderr).trim().split("\n")[0] ?? "";
}

async function mbVersion(): Promise<string> {
  const head = await run("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]);
  if (!head.success) return MB_VERSION;
  const status = await run("git", [
    "-C",
    ROOT,
    "status",
    "--porcelain",
    "--",
    "protocol",
    "server",
  ]);
  const dirty = status.stdout.trim() !== "" ? ", uncommitted changes in protocol/ or server/" : "";
  return `${MB_VERSION} (git ${head.stdout.trim()}${dirty})`;
}

/**
 * mb's store flags: `--data :memory:` (nothing on disk, like the peers'
 * persistence off), or a data directory inside `dir` with the row's fsync
 * policy.
 *
 * @param dir The broker's private temporary directory.
 * @param store The row's store, if it has one.
 * @returns The flags.
 */
export function mbStoreArgs(dir: string, store: StoreSetup | undefined): string[] {
  if (store === undefined) return ["--data", ":memory:"];
  return [
    "--data",
    `${dir}/data`,
    "--fsync",
    store.fsync,
    ...(store.fsyncIntervalMs === undefined
      ? []
      : ["--fsync-interval", String(store.fsyncIntervalMs)]),
  ];
}

/** Every broker, in column order: mb first. */
export const BROKERS: readonly BrokerSpec[] = [
  {
    id: "mb",
    label: "mb",
    protocol: "mb",
    requires: [],
    needsNpmPeers: false,
    web: true,
    argv: (host, port, dir, store, httpPort, mqttPort) =>
      Promise.resolve([
        Deno.execPath(),
        "run",
        "-A",
        `${ROOT}server/main.ts`,
        "--host",
        host,
        "--port",
        String(port),
        "--http-port",
        httpPort === undefined ? "off" : String(httpPort),
        "--mqtt-port",
        mqttPort === undefined ? "off" : String(mqttPort),
        "--log-level",
        "warning",
        ...mbStoreArgs(dir, store),
      ]),
    version: mbVersion,
  },
  {
    id: "nats",
    label: "nats-server",
    protocol: "nats",
    requires: [{ command: "nats-server", apt: "nats-server" }],
    web: false,
    needsNpmPeers: false,
    argv: (host, port) =>
      Promise.resolve([executable("nats-server"), "-a", host, "-p", String(port)]),
    version: async () =>
      (await firstLine("nats-server", ["--version"])).replace(/^nats-server:\s*/, ""),
  },
  {
    id: "mosquitto",
    label: "mosquitto",
    protocol: "mqtt",
    requires: [{ command: "mosquitto", apt: "mosquitto" }],
    web: false,
    needsNpmPeers: false,
    async argv(host, port, dir) {
      const config = `${dir}/mosquitto.conf`;
      await Deno.writeTextFile(
        config,
        [
          `listener ${port} ${host}`,
          "allow_anonymous true",
          "persistence false",
          "log_dest stderr",
          "log_type error",
          "log_type warning",
          "",
        ].join("\n"),
      );
      return [executable("mosquitto"), "-c", config];
    },
    version: async () =>
      (await firstLine("mosquitto", ["-h"])).replace(/^mosquitto version\s*/, ""),
  },
  {
    id: "redis",
    label: "redis-server",
    protocol: "redis",
    requires: [{ command: "redis-server", apt: "redis-server" }],
    web: false,
    needsNpmPeers: false,
    argv: (host, port, dir) =>
      Promise.resolve([
        executable("redis-server"),
        "--port",
        String(port),
        "--bind",
        host,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--loglevel",
        "warning",
        "--daemonize",
        "no",
      ]),
    version: async () => {
      const line = await firstLine("redis-server", ["--version"]);
      return line.match(/v=(\S+)/)?.[1] ?? line;
    },
  },
  {
    id: "aedes",
    label: "Aedes",
    protocol: "mqtt",
    requires: [{ command: "node", apt: "nodejs" }, { command: "npm", apt: "npm" }],
    web: false,
    needsNpmPeers: true,
    argv: (host, port) =>
      Promise.resolve([
        executable("node"),
        `${ROOT}bench/peers/aedes_server.mjs`,
        "--host",
        host,
        "--port",
        String(port),
      ]),
    async version() {
      try {
        const path = `${ROOT}bench/peers/node_modules/aedes/package.json`;
        return JSON.parse(await Deno.readTextFile(path)).version;
      } catch {
        return "not installed";
      }
    },
  },
];

/**
 * Looks a broker up by id.
 *
 * @param id The id.
 * @returns The broker.
 * @throws {Error} When no broker has this id.
 */
export function brokerById(id: string): BrokerSpec {
  const broker = BROKERS.find((candidate) => candidate.id === id);
  if (broker === undefined) {
    throw new Error(
      `Unknown broker ${JSON.stringify(id)}: choose from ${BROKERS.map((b) => b.id).join(", ")}`,
    );
  }
  return broker;
}

/**
 * Distinct ports that were free a moment ago on `host` (all held open
 * together while they are picked, so none is handed out twice).
 *
 * @param host The address.
 * @param count How many.
 * @returns The ports.
 */
export function freePorts(host: string, count: number): number[] {
  const listeners = Array.from({ length: count }, () => Deno.listen({ hostname: host, port: 0 }));
  const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/**
 * A port that was free a moment ago on `host`.
 *
 * @param host The address.
 * @returns The port.
 */
export function freePort(host: string): number {
  return freePorts(host, 1)[0];
}

/** Options for {@linkcode startBroker}. */
export interface StartOptions {
  /** Loopback address to bind. */
  host: string;
  /** Core to pin the broker to with taskset, or `undefined` for no pinning. */
  core: number | undefined;
  /** How long to wait for it to accept connections, in milliseconds. */
  timeoutMs: number;
  /** mb only: a store in a fresh data directory, for one row. */
  store?: StoreSetup;
  /** mb only: open the web listener (`--http-port` on a free port). */
  web?: boolean;
  /** mb only: open the MQTT listener (`--mqtt-port` on a free port). */
  mqtt?: boolean;
}

/** A broker process started by {@linkcode startBroker}. */
export class RunningBroker {
  /** Which broker. */
  readonly spec: BrokerSpec;
  /** Its address. */
  readonly host: string;
  /** Its port. */
  readonly port: number;
  /** mb's web listener port, when it has one. */
  readonly httpPort: number | undefined;
  /** mb's MQTT listener port, when it has one. */
  readonly mqttPort: number | undefined;
  #child: Deno.ChildProcess;
  #dir: string;
  #exited = false;
  #output = "";
  #forgetDir: () => void;

  /**
   * @param spec Which broker.
   * @param child Its process.
   * @param host Its address.
   * @param port Its port.
   * @param dir Its temporary directory, removed on stop.
   * @param httpPort mb's web listener port, when it has one.
   * @param mqttPort mb's MQTT listener port, when it has one.
   */
  constructor(
    spec: BrokerSpec,
    child: Deno.ChildProcess,
    host: string,
    port: number,
    dir: string,
    httpPort?: number,
    mqttPort?: number,
  ) {
    this.spec = spec;
    this.mqttPort = mqttPort;
    this.#child = child;
    this.host = host;
    this.port = port;
    this.httpPort = httpPort;
    this.#dir = dir;
    this.#forgetDir = trackDir(dir);
    child.status.then(() => this.#exited = true);
    this.#collect(child.stdout);
    this.#collect(child.stderr);
  }

  /** Its process id (taskset execs the broker, so this is the broker itself). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether it is still running. */
  get alive(): boolean {
    return !this.#exited;
  }

  /** The last few kilobytes it printed, for error messages. */
  get output(): string {
    return this.#output.trim();
  }

  /** Stops it (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  async stop(): Promise<void> {
    signal(this.#child, "SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#child.status,
      new Promise((resolve) => timer = setTimeout(resolve, 5_000)),
    ]);
    clearTimeout(timer);
    if (!this.#exited) signal(this.#child, "SIGKILL");
    await this.#child.status;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    this.#forgetDir();
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        this.#output = (this.#output + text).slice(-4096);
      }
    } catch { /* the process ended */ }
  }
}

/**
 * Starts a broker on a free port (and, with `options.web`, its web listener
 * on another) and waits until it accepts connections on them.
 *
 * @param spec Which broker.
 * @param options Address, pinning, deadline, store and web listener.
 * @returns The running broker.
 * @throws {Error} When it exits or does not accept connections in time, or
 * when a web listener is asked of a broker without one.
 */
export async function startBroker(spec: BrokerSpec, options: StartOptions): Promise<RunningBroker> {
  const web = options.web === true;
  if (web && !spec.web) throw new Error(`${spec.label} has no web listener`);
  const dir = await Deno.makeTempDir({ prefix: `mb-bench-${spec.id}-` });
  const mqtt = options.mqtt === true && spec.id === "mb";
  // One call, so the ports differ.
  const free = freePorts(options.host, 1 + (web ? 1 : 0) + (mqtt ? 1 : 0));
  const port = free[0];
  const httpPort = web ? free[1] : undefined;
  const mqttPort = mqtt ? free.at(-1) : undefined;
  const argv = await spec.argv(options.host, port, dir, options.store, httpPort, mqttPort);
  const [command, ...args] = options.core === undefined
    ? argv
    : ["taskset", "-c", String(options.core), ...argv];
  let child: Deno.ChildProcess;
  try {
    child = track(
      new Deno.Command(command, {
        args,
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`Cannot start ${spec.label} (${argv.join(" ")}): ${error}`);
  }
  const broker = new RunningBroker(spec, child, options.host, port, dir, httpPort, mqttPort);
  const deadline = Date.now() + options.timeoutMs;
  const ports = [port, httpPort, mqttPort].filter((p): p is number => p !== undefined);
  while (true) {
    try {
      for (const probePort of ports) {
        const probe = await Deno.connect({ hostname: options.host, port: probePort });
        probe.close();
      }
      return broker;
    } catch { /* not yet */ }
    if (!broker.alive || Date.now() > deadline) {
      const why = broker.alive ? `not accepting after ${options.timeoutMs} ms` : "exited";
      await broker.stop();
      throw new Error(`Cannot start ${spec.label} (${argv.join(" ")}): ${why}\n${broker.output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
