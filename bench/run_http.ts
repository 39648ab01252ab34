// Copyright mb authors. MIT license.
// The HTTP publish runner (mb only): keep-alive HTTP/1.1 connections to mb's
// web listener, each with one pre-encoded `POST /v1/topics/bench/t` in
// flight (or `batch` pipelined ones), taking the next request as soon as the
// response is in; one raw TCP subscriber counts the deliveries. Every
// response must be 202 and every message delivered.
//
// A raw-socket client rather than `fetch`: `fetch` is the bottleneck. On the
// 2-core VM this was written on, `fetch` with 64 requests in flight made
// 22.5k req/s with the generator at 97% and the broker at 88%; this client
// made 26.9k with the generator at 64% and the broker at 99%.

import { type BenchConnection, TcpConnection } from "./connection.ts";
import { Flow, type Gauge, type Tally } from "./flow.ts";
import type { LoadResult, LoadSpec } from "./load_spec.ts";
import { HTTP_ACCEPTED, httpPublishRequests } from "./protocols/http.ts";
import { PROTOCOLS } from "./protocols/mod.ts";
import { closeAll, describeCounts, guard, measureExactRounds, roundUp } from "./_run_common.ts";

/** How long to wait for a connection or subscription. */
const SETUP_TIMEOUT_MS = 20_000;
const TOPIC = "bench/t";

/**
 * One keep-alive HTTP connection with its requests in flight: `send`
 * resolves once their responses are all in.
 */
class HttpClient {
  readonly connection: BenchConnection;
  #target = 0;
  #resolve: (() => void) | undefined;
  #reject: ((error: Error) => void) | undefined;

  constructor(connection: BenchConnection) {
    this.connection = connection;
    connection.addListener(() => this.#check());
  }

  /**
   * Writes `requests` and waits for `count` responses.
   *
   * @param requests The pre-encoded requests.
   * @param count How many requests they hold.
   * @returns Resolves when the responses are in; rejects on a response
   * other than 202, a connection failure, or {@linkcode HttpClient.abort}.
   */
  send(requests: Uint8Array, count: number): Promise<void> {
    this.#target = this.connection.counter.replies + count;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#resolve = resolve;
    this.#reject = reject;
    this.connection.write(requests).catch((error) => this.abort(error));
    return promise;
  }

  /**
   * Fails the request in flight, if any.
   *
   * @param error Why.
   */
  abort(error: Error): void {
    const reject = this.#reject;
    this.#resolve = this.#reject = undefined;
    reject?.(error);
  }

  #check(): void {
    if (this.#resolve === undefined) return;
    const connection = this.connection;
    const counter = connection.counter;
    if (connection.failure !== undefined) {
      this.abort(new Error(`${connection.name}: ${connection.failure}`));
    } else if (counter.errors > 0) {
      this.abort(new Error(`${connection.name}: unexpected response: ${counter.firstError}`));
    } else if (counter.replies >= this.#target) {
      const resolve = this.#resolve;
      this.#resolve = this.#reject = undefined;
      resolve();
    }
  }
}

/**
 * The 202 responses over every HTTP connection, as one tally for the flow.
 *
 * @param clients The connections.
 * @returns A tally whose `replies` is their sum.
 */
function responsesOf(clients: HttpClient[]): Tally {
  return {
    delivered: 0,
    get replies() {
      let sum = 0;
      for (let i = 0; i < clients.length; i++) sum += clients[i].connection.counter.replies;
      return sum;
    },
  };
}

/**
 * Runs the HTTP publish workload against an mb broker with a web listener.
 *
 * @param spec What to run; the protocol must be `mb` and `httpPort` set.
 * @returns The result; `ok` is false when a count is off.
 * @throws {Error} When a connection fails, a response is not 202, or the
 * flow stalls.
 */
export async function runHttp(spec: LoadSpec): Promise<LoadResult> {
  const workload = spec.workload;
  if (spec.protocol !== "mb" || spec.httpPort === undefined) {
    throw new Error(`${workload.id}: needs an mb broker with a web listener (--http-port)`);
  }
  if (spec.messages % workload.batch !== 0) {
    throw new Error(`${workload.id}: ${spec.messages} is not a multiple of ${workload.batch}`);
  }
  const protocol = PROTOCOLS.mb;
  const connections: BenchConnection[] = [];
  const stoppers: (() => void)[] = [];
  try {
    const subscriber = await TcpConnection.open(protocol, {
      host: spec.host,
      port: spec.port,
      clientId: "sub-0",
      timeoutMs: SETUP_TIMEOUT_MS,
    });
    connections.push(subscriber);
    const subscribe = protocol.subscribe([TOPIC], []);
    await subscriber.write(subscribe.bytes);
    await subscriber.waitReplies(
      subscriber.counter.replies + subscribe.replies,
      SETUP_TIMEOUT_MS,
      "subscribe",
    );
    const clients: HttpClient[] = [];
    for (let i = 0; i < workload.publishers; i++) {
      const connection = await TcpConnection.open(HTTP_ACCEPTED, {
        host: spec.host,
        port: spec.httpPort,
        clientId: `http-${i}`,
        timeoutMs: SETUP_TIMEOUT_MS,
      });
      connections.push(connection);
      clients.push(new HttpClient(connection));
    }
    const gauges: Gauge[] = [
      { tally: subscriber.counter, field: "delivered", share: 1, name: "sub-0 deliveries" },
      { tally: responsesOf(clients), field: "replies", share: 1, name: "HTTP 202 responses" },
    ];
    const flow = new Flow(gauges);
    stoppers.push(guard(flow, connections, spec.stallMs));
    const payload = new Uint8Array(workload.payloadBytes).fill(0x61);
    const requests = httpPublishRequests(
      `${spec.host}:${spec.httpPort}`,
      TOPIC,
      payload,
      workload.batch,
    );

    // The guard's watchdog only sees waits on the flow; a client waits on its own
    // responses, so a stalled response or a failed flow ends the clients here.
    let active = false;
    let last = -1;
    let since = performance.now();
    let failure: Error | undefined;
    const abortAll = (error: Error) => {
      failure ??= error;
      for (const client of clients) client.abort(failure);
      flow.fail(failure);
    };
    const timer = setInterval(() => {
      const progress = flow.progress() + flow.published;
      const now = performance.now();
      if (!active || progress !== last) {
        last = progress;
        since = now;
      } else if (now - since > spec.stallMs) {
        abortAll(
          new Error(
            `No progress for ${Math.round(spec.stallMs / 1000)} s after ${flow.published} ` +
              `requests: ${describeCounts(flow)}`,
          ),
        );
      }
    }, 250);
    stoppers.push(() => clearInterval(timer));

    const phase = async (total: number) => {
      if (failure !== undefined) throw failure;
      flow.reset();
      active = true;
      try {
        await Promise.all(clients.map(async (client) => {
          while (flow.published < total) {
            const claimed = flow.claim(workload.batch);
            if (claimed - workload.window > flow.progress()) {
              await flow.waitProgress(claimed - workload.window);
            }
            await client.send(requests, workload.batch);
          }
        })).catch((error) => {
          abortAll(error instanceof Error ? error : new Error(String(error)));
          throw error;
        });
        await flow.waitProgress(total);
      } finally {
        active = false;
      }
    };

    await phase(roundUp(spec.warmup, workload.batch));
    return await measureExactRounds(spec, flow, phase);
  } finally {
    for (const stop of stoppers) stop();
    await closeAll(connections);
  }
}
