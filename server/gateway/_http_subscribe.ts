// Copyright mb authors. MIT license.
// `GET /v1/subscribe`: a live subscription, or a stream reader, answered as
// Server-Sent Events.

import { quote } from "../../protocol/_text.ts";
import { MbError } from "../../protocol/errors.ts";
import { patternProblem } from "../../protocol/topic.ts";
import type { Route } from "../router.ts";
import type { StreamReader } from "../store/stream.ts";
import type { HttpContext } from "./_http_context.ts";
import type { PayloadEncoding } from "./_http_message.ts";
import { answerEncoding, checkQueueGroup, resumeAfter, streamStart } from "./_http_params.ts";

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** Credit of an SSE stream reader: flow control comes from the response's buffer instead. */
const UNBOUNDED_CREDIT = Number.MAX_SAFE_INTEGER;

/** Opens an SSE response for `pattern` (and `queue`), or for `stream` from `from` or `Last-Event-ID`. */
export function subscribe(ctx: HttpContext, request: Request, url: URL): Promise<Response> {
  const query = url.searchParams;
  const stream = query.get("stream") ?? "";
  const pattern = query.get("pattern") ?? "";
  const queue = query.get("queue") ?? "";
  const encoding = answerEncoding(query.get("encoding"), null, false) as PayloadEncoding;
  if (pattern !== "") {
    const problem = patternProblem(pattern);
    if (problem !== undefined) {
      throw new MbError("TOPIC_INVALID", `Cannot subscribe to ${quote(pattern)}: ${problem}`);
    }
  }
  if (stream === "") {
    if (pattern === "") {
      throw new MbError("INVALID_ARGUMENT", "Cannot subscribe: give a pattern or a stream");
    }
    checkQueueGroup(queue);
    const router = ctx.router;
    // onClose runs only after the route below is added.
    const sse = ctx.openSse(encoding, () => router.remove(route));
    const route: Route = { sid: 1, pattern, queue, subscriber: sse };
    router.add(route);
    return Promise.resolve(new Response(sse.body, { headers: SSE_HEADERS }));
  }
  if (queue !== "") {
    throw new MbError("INVALID_ARGUMENT", "Cannot read a stream with a queue group");
  }
  const lastEventId = request.headers.get("last-event-id");
  const start = lastEventId !== null && lastEventId !== ""
    ? resumeAfter(lastEventId)
    : streamStart(query.get("from"));
  let reader: StreamReader | undefined;
  const sse = ctx.openSse(
    encoding,
    () => reader?.close(),
    () => reader === undefined || !reader.closed,
  );
  try {
    reader = ctx.store.subscribe(sse, 1, stream, pattern, start, UNBOUNDED_CREDIT);
  } catch (error) {
    void sse.body.cancel();
    throw error;
  }
  return Promise.resolve(new Response(sse.body, { headers: SSE_HEADERS }));
}
