// Copyright mb authors. MIT license.
// Shared helpers for the integration tests: brokers on ephemeral ports,
// a TLS certificate made with openssl, unique topics, named deadlines.

import { Broker, type BrokerOptions } from "../server/mod.ts";

/** Repository root, for spawning the CLI and the server. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/**
 * Starts a broker on 127.0.0.1 with a free TCP port, no web listener and no
 * MQTT listener (pass `httpPort: 0` or `mqttPort: 0` for them); dispose it
 * with `await using`.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker & { url: string }> {
  const broker = new Broker({
    hostname: "127.0.0.1",
    port: 0,
    httpPort: null,
    mqttPort: null,
    ...options,
  });
  await broker.start();
  const tcp = broker.addresses.find((a) => a.transport === "tcp");
  return Object.assign(broker, { url: tcp?.url ?? broker.addresses[0].url });
}

let topicCounter = 0;

/** A topic no other test uses. */
export function uniqueTopic(prefix = "test"): string {
  return `${prefix}/${crypto.randomUUID().slice(0, 8)}${++topicCounter}`;
}

/**
 * Waits for `promise`, failing with a named error after `ms`.
 */
export async function deadline<T>(promise: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${name}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns true, failing with `name` after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms: number,
  name: string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for: ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A test CA and a server certificate it signed, for `localhost` and 127.0.0.1. */
export interface TestCertificate {
  /** The CA certificate clients trust (PEM). */
  ca: string;
  /** The server's certificate (PEM). */
  cert: string;
  /** The server's private key (PEM). */
  key: string;
  caPath: string;
  certPath: string;
  keyPath: string;
}

let certificate: Promise<TestCertificate> | undefined;

async function openssl(args: string[], cwd: string): Promise<void> {
  let output;
  try {
    output = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
      .output();
  } catch (error) {
    throw new Error(`This test needs openssl (apt install openssl): ${error}`);
  }
  if (!output.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/** Generates (once per process) a CA and a server certificate with openssl. */
export function testCertificate(): Promise<TestCertificate> {
  certificate ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "mb-tls-" });
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=mb test CA",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
    ], dir);
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-keyout",
      "key.pem",
      "-out",
      "server.csr",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
      "-out",
      "cert.pem",
    ], dir);
    return {
      ca: await Deno.readTextFile(`${dir}/ca.pem`),
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
      caPath: `${dir}/ca.pem`,
      certPath: `${dir}/cert.pem`,
      keyPath: `${dir}/key.pem`,
    };
  })();
  return certificate;
}

/** A fresh path for a unix socket. */
export async function tempSocketPath(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mb-sock-" });
  return `${dir}/mb.sock`;
}

/** Reads a child's stdout line by line. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered !== "") yield buffered;
}

/** A broker run as `deno run -A server/main.ts`, its URL read from stdout. */
export interface ServerProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Every URL it printed, in order. */
  urls: string[];
  /** The remaining stdout lines. */
  stdout: AsyncGenerator<string>;
  /** Collected stderr (logs), readable after exit. */
  stderr: () => Promise<string>;
}

/**
 * Spawns the server with `args` (add `--port 0`) and waits for its first
 * `expectUrls` URLs. The web listener gets `--http-port 0` unless `args` set
 * `--http-port`; its URL comes after the others.
 */
export async function spawnServer(
  args: string[],
  options: { env?: Record<string, string>; expectUrls?: number } = {},
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    // Without --data (here or in a --config file), the server would keep its
    // store in ./data of the repository.
    args: [
      "run",
      "-A",
      `${ROOT}server/main.ts`,
      ...(args.includes("--data") || args.includes("--config") ? [] : ["--data", ":memory:"]),
      ...(args.includes("--http-port") ? [] : ["--http-port", "0"]),
      ...(args.includes("--mqtt-port") ? [] : ["--mqtt-port", "off"]),
      ...args,
    ],
    cwd: ROOT,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const stderrText = new Response(child.stderr).text();
  const stdout = lines(child.stdout);
  const urls: string[] = [];
  const want = options.expectUrls ?? 1;
  try {
    await deadline(
      (async () => {
        while (urls.length < want) {
          const next = await stdout.next();
          if (next.done) throw new Error(`server exited early: ${await stderrText}`);
          urls.push(next.value);
        }
      })(),
      15_000,
      "server printing its address",
    );
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    throw error;
  }
  return {
    child,
    urls,
    stdout,
    stderr: () => stderrText,
    [Symbol.asyncDispose]: () => stopChild(child, stdout, stderrText),
  };
}

/**
 * Kills a child process, waits for it, drains its line reader (so the
 * resource is released) and awaits what else reads from it.
 */
export async function stopChild(
  child: Deno.ChildProcess,
  stdout: AsyncIterable<string>,
  ...pending: Promise<unknown>[]
): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  await child.status;
  for await (const _ of stdout) { /* discard */ }
  await Promise.all(pending);
}

let nameCounter = 0;

/** A stream or queue name no other test uses (letters, digits and `-` only). */
export function uniqueName(prefix = "test"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}${++nameCounter}`;
}

/** A fresh, empty directory for a broker's data; remove it with `Deno.remove(dir, { recursive: true })`. */
export function tempDataDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "mb-data-" });
}

/**
 * Takes the next `count` values of `iterator` within `ms` (one deadline for
 * all of them), failing with `name` when time runs out or the iterator ends
 * first. The iterator stays usable for more.
 */
export function take<T>(
  iterator: AsyncIterator<T>,
  count: number,
  ms: number,
  name: string,
): Promise<T[]> {
  return deadline(
    (async () => {
      const values: T[] = [];
      while (values.length < count) {
        const next = await iterator.next();
        if (next.done) {
          throw new Error(`${name}: iteration ended after ${values.length} of ${count} values`);
        }
        values.push(next.value);
      }
      return values;
    })(),
    ms,
    name,
  );
}
