// Copyright mb authors. MIT license.

import { quote } from "../../protocol/_text.ts";
import { AckAction } from "../../protocol/frames.ts";
import type { Router } from "../router.ts";
import type { SlowConsumerPolicy } from "../session.ts";
import type { DurableStore } from "../store/durable_store.ts";
import { bodyCommand, declareQueue, listCommand, namedCommand } from "./_http_admin.ts";
import { bearerMatches } from "./_http_auth.ts";
import type { HttpContext, HttpHandler } from "./_http_context.ts";
import { errorResponse, responseForError } from "./_http_errors.ts";
import type { PayloadEncoding } from "./_http_message.ts";
import { publish } from "./_http_publish.ts";
import { fetchFromQueue, HttpQueueSink, sendToQueue, settleMessage } from "./_http_queues.ts";
import { RouteTable } from "./_http_route_table.ts";
import { HTTP_ROUTES, type HttpOperationId } from "./_http_routes.ts";
import { readStream } from "./_http_stream_page.ts";
import { subscribe } from "./_http_subscribe.ts";
import { openApiDocument } from "./openapi.ts";
import { SseResponse } from "./sse_response.ts";

/** What the HTTP API serves from, and its limits. */
export interface HttpApiOptions {
  /** The routing core. */
  router: Router;
  /** Streams and queues. */
  store: DurableStore;
  /** Largest payload a publish or send may carry. */
  maxPayloadBytes: number;
  /** Bytes buffered per SSE response before the slow-consumer policy. */
  maxPendingBytes: number;
  /** What a slow SSE reader gets. */
  slowConsumer: SlowConsumerPolicy;
  /** A token requests must present as `Authorization: Bearer <token>`, if any. */
  token?: string;
  /**
   * Period of the comment lines that keep SSE responses open.
   *
   * @default {15000}
   */
  heartbeatMs?: number;
  /**
   * Gives ids to the API's deliveries (an SSE response, a stream page, the
   * queue fetcher), as the broker does to its connections; pass the
   * broker's counter so they are unique among them.
   *
   * @default {a counter of this API, from 1}
   */
  nextId?: () => number;
}

/** Counters of an {@linkcode HttpApi}. */
export interface HttpApiStats {
  /** SSE responses open now. */
  sseResponses: number;
  /** Messages queued for SSE clients since start. */
  messagesOut: number;
  /** Messages dropped by the slow-consumer policy since start. */
  dropped: number;
  /** Event bytes queued for SSE clients now. */
  pendingBytes: number;
}

/**
 * mb's HTTP API under `/v1/`: publish (`POST /v1/topics/{topic}`),
 * subscribe as Server-Sent Events (`GET /v1/subscribe`, live or from a
 * stream), stream pages, work queues (send, fetch, ack, nack), the
 * administration of streams and queues, and its own OpenAPI document at
 * `GET /v1/openapi.json`. Answers are JSON; errors are
 * `{ "error": { "code", "message" } }` with a fitting status. The web
 * listener hands it every request that is not a WebSocket upgrade or a
 * static file; it is a plain `Request` to `Response` function, so it also
 * runs under `Deno.serve` alone.
 *
 * @example Publish over HTTP
 * ```ts
 * import { HttpApi } from "./http_api.ts";
 * import { Router } from "../router.ts";
 * import { DurableStore } from "../store/durable_store.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = await DurableStore.open();
 * const router = new Router();
 * const api = new HttpApi({
 *   router,
 *   store,
 *   maxPayloadBytes: 1024,
 *   maxPendingBytes: 65536,
 *   slowConsumer: "disconnect",
 * });
 * const response = await api.handle(
 *   new Request("http://localhost/v1/topics/sensors/kitchen", { method: "POST", body: "22.5" }),
 * );
 * assert.equal(response.status, 202);
 * assert.equal(router.stats().messagesIn, 1);
 * await response.body?.cancel();
 * await api.close();
 * ```
 */
export class HttpApi {
  #options: HttpApiOptions;
  #routes = new RouteTable(HTTP_ROUTES);
  #handlers: Record<HttpOperationId, HttpHandler>;
  #context: HttpContext;
  #sse = new Set<SseResponse>();
  #queueSink: HttpQueueSink;
  #openApi: string;
  #closing: Promise<void> | undefined;
  #endedMessagesOut = 0;
  #endedDropped = 0;

  /**
   * Makes the API over a router and a store; it answers through
   * {@linkcode HttpApi.handle}.
   *
   * @param options What to serve from.
   */
  constructor(options: HttpApiOptions) {
    this.#options = options;
    let id = 0;
    const nextId = options.nextId ?? (() => ++id);
    this.#queueSink = new HttpQueueSink(nextId());
    this.#context = {
      router: options.router,
      store: options.store,
      maxPayloadBytes: options.maxPayloadBytes,
      queueSink: this.#queueSink,
      nextId,
      openSse: (encoding, onClose, alive) => this.#openSse(nextId(), encoding, onClose, alive),
    };
    this.#openApi = JSON.stringify(openApiDocument({ auth: options.token !== undefined }));
    const openApi = this.#openApi;
    this.#handlers = {
      publish,
      subscribe,
      listStreams: listCommand("stream.list", "streams"),
      createStream: bodyCommand("stream.create"),
      getStream: namedCommand("stream.info"),
      deleteStream: namedCommand("stream.delete"),
      purgeStream: namedCommand("stream.purge"),
      readStream,
      listQueues: listCommand("queue.list", "queues"),
      declareQueue,
      getQueue: namedCommand("queue.info"),
      deleteQueue: namedCommand("queue.delete"),
      purgeQueue: namedCommand("queue.purge"),
      sendToQueue,
      fetchFromQueue,
      ackMessage: settleMessage(AckAction.Ack),
      nackMessage: settleMessage(AckAction.Nack),
      openApi: () =>
        Promise.resolve(
          new Response(openApi, { headers: { "content-type": "application/json" } }),
        ),
    };
  }

  /**
   * Answers one request.
   *
   * @param request The request.
   * @returns The response; errors are JSON responses, never rejections.
   */
  async handle(request: Request): Promise<Response> {
    if (this.#closing !== undefined) {
      return errorResponse("SERVER_SHUTDOWN", "Cannot answer: the broker is shutting down");
    }
    const url = new URL(request.url);
    // Route on the path as sent: URL parsing would resolve "." and ".."
    // (also as %2e), which are valid topic levels.
    const found = this.#routes.lookup(request.method, rawPath(request.url));
    if (found.kind !== "route" || found.match.route.public !== true) {
      const token = this.#options.token;
      if (token !== undefined && !bearerMatches(request.headers.get("authorization"), token)) {
        await request.body?.cancel().catch(() => {});
        return errorResponse(
          "AUTH_FAILED",
          "Authentication failed: wrong or missing bearer token",
          { "www-authenticate": 'Bearer realm="mb"' },
        );
      }
    }
    if (found.kind === "none") {
      await request.body?.cancel().catch(() => {});
      return errorResponse("NOT_FOUND", `No route for ${request.method} ${quote(url.pathname)}`);
    }
    if (found.kind === "method") {
      await request.body?.cancel().catch(() => {});
      return errorResponse(
        "METHOD_NOT_ALLOWED",
        `Cannot ${request.method} ${quote(url.pathname)}: allowed are ${found.allowed.join(", ")}`,
        { allow: found.allowed.join(", ") },
      );
    }
    const { route, params } = found.match;
    try {
      return await this.#handlers[route.operationId](this.#context, request, url, params);
    } catch (error) {
      await request.body?.cancel().catch(() => {});
      return responseForError(error);
    }
  }

  /** Current counters. */
  stats(): HttpApiStats {
    let messagesOut = this.#endedMessagesOut;
    let dropped = this.#endedDropped;
    let pendingBytes = 0;
    for (const sse of this.#sse) {
      const stats = sse.stats();
      messagesOut += stats.messagesOut;
      dropped += stats.dropped;
      pendingBytes += stats.pendingBytes;
    }
    return { sseResponses: this.#sse.size, messagesOut, dropped, pendingBytes };
  }

  /**
   * Stops answering (later requests get `SERVER_SHUTDOWN`), ends every SSE
   * response (each sends what it has queued, within two seconds), and gives
   * the queue messages fetched over HTTP and not yet settled back to their
   * queues. Call it before shutting the HTTP server down: an SSE response
   * otherwise never ends.
   *
   * @returns A promise that resolves once every SSE response has ended.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const open = [...this.#sse];
      for (const sse of open) sse.close();
      this.#queueSink.close(this.#options.store);
      await Promise.all(open.map((sse) => sse.done));
    })();
    return this.#closing;
  }

  #openSse(
    id: number,
    encoding: PayloadEncoding,
    onClose: () => void,
    alive: (() => boolean) | undefined,
  ): SseResponse {
    const { maxPendingBytes, slowConsumer, heartbeatMs } = this.#options;
    const sse: SseResponse = new SseResponse({
      id,
      maxPendingBytes,
      slowConsumer,
      heartbeatMs,
      encoding,
      alive,
      onClose: () => {
        if (this.#sse.delete(sse)) {
          const stats = sse.stats();
          this.#endedMessagesOut += stats.messagesOut;
          this.#endedDropped += stats.dropped;
        }
        onClose();
      },
    });
    this.#sse.add(sse);
    return sse;
  }
}

/** The path of a request URL as the client sent it: no dot segments resolved. */
function rawPath(url: string): string {
  const scheme = url.indexOf("://");
  const start = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  if (start < 0) return "/";
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query >= 0) end = query;
  const hash = url.indexOf("#", start);
  if (hash >= 0 && hash < end) end = hash;
  return url.slice(start, end);
}
