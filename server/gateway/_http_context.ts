// Copyright mb authors. MIT license.
// What the HTTP API's handlers get from it: the broker's router and store,
// limits, the queue sink, ids, and SSE responses it keeps track of.

import type { Router } from "../router.ts";
import type { DurableStore } from "../store/durable_store.ts";
import type { HttpQueueSink } from "./_http_queues.ts";
import type { PayloadEncoding } from "./_http_message.ts";
import type { SseResponse } from "./sse_response.ts";

/** The API as its handlers see it. */
export interface HttpContext {
  readonly router: Router;
  readonly store: DurableStore;
  readonly maxPayloadBytes: number;
  /** The one sink every HTTP queue fetch pulls through. */
  readonly queueSink: HttpQueueSink;
  /** A fresh connection id. */
  nextId(): number;
  /** An SSE response the API tracks (stats, close); `onClose` runs once when it ends. */
  openSse(encoding: PayloadEncoding, onClose: () => void, alive?: () => boolean): SseResponse;
}

/** Answers one matched route; thrown `MbError`s become JSON error responses. */
export type HttpHandler = (
  ctx: HttpContext,
  request: Request,
  url: URL,
  params: Record<string, string>,
) => Promise<Response>;
