// Copyright mb authors. MIT license.
// One page of a stream for `GET /v1/streams/{name}/messages`: a reader with
// credit for the page, delivering into a collecting sink until the page is
// full (count or bytes) or the reader has reached the end the stream had
// when the request came.

import { quote } from "../../protocol/_text.ts";
import type { StreamInfo } from "../../protocol/durable.ts";
import { MbError } from "../../protocol/errors.ts";
import type { StreamStart } from "../../protocol/frames.ts";
import { patternProblem } from "../../protocol/topic.ts";
import type { DurableStore } from "../store/durable_store.ts";
import type { DurableSink } from "../store/sink.ts";
import type { HttpContext } from "./_http_context.ts";
import { addMessageJson, rawAnswer } from "./_http_message.ts";
import { answerEncoding, decodeSegment, integerParam, streamStart } from "./_http_params.ts";

/** A stored stream message, its section copied. */
export interface StoredMessage {
  offset: number;
  timestamp: number;
  section: Uint8Array;
}

/** A page of a stream and where the next page starts. */
export interface StreamPage {
  messages: StoredMessage[];
  nextOffset: number;
}

/** What to read. */
export interface StreamPageRequest {
  id: number;
  name: string;
  pattern: string;
  start: StreamStart;
  max: number;
  maxBytes: number;
}

/** How often a page that ends on skipped records (filter, retention) checks its reader. */
const CHECK_MS = 20;
/** Most messages one page returns. */
const MAX_PAGE_MESSAGES = 1000;
/** Pages stop at about this many bytes of messages. */
const PAGE_BYTES = 1024 * 1024;

/**
 * `GET /v1/streams/{name}/messages`: `{ messages, nextOffset }`, or the
 * first message as raw bytes.
 */
export async function readStream(
  ctx: HttpContext,
  request: Request,
  url: URL,
  params: Record<string, string>,
): Promise<Response> {
  const query = url.searchParams;
  const encoding = answerEncoding(query.get("encoding"), request.headers.get("accept"), true);
  const max = encoding === "raw" ? 1 : integerParam(query.get("max"), "max", {
    fallback: 100,
    min: 1,
    max: MAX_PAGE_MESSAGES,
  });
  const pattern = query.get("pattern") ?? "";
  const problem = pattern === "" ? undefined : patternProblem(pattern);
  if (problem !== undefined) {
    throw new MbError("TOPIC_INVALID", `Cannot read ${quote(pattern)}: ${problem}`);
  }
  const page = await readStreamPage(ctx.store, {
    id: ctx.nextId(),
    name: decodeSegment(params.name),
    pattern,
    start: streamStart(query.get("from") ?? "first"),
    max,
    maxBytes: PAGE_BYTES,
  });
  if (encoding === "raw") {
    const first = page.messages[0];
    if (first === undefined) {
      return new Response(null, {
        status: 204,
        headers: { "mb-next-offset": String(page.nextOffset) },
      });
    }
    return rawAnswer(first.section, {
      "mb-offset": first.offset,
      "mb-timestamp": first.timestamp,
      "mb-next-offset": page.nextOffset,
    });
  }
  const messages = [];
  for (const stored of page.messages) {
    const fields = { offset: stored.offset, timestamp: stored.timestamp };
    messages.push(addMessageJson(fields, stored.section, encoding));
  }
  return Response.json({ messages, nextOffset: page.nextOffset });
}

/** Reads one page of a stream. */
export async function readStreamPage(
  store: DurableStore,
  request: StreamPageRequest,
): Promise<StreamPage> {
  const info = await store.command("stream.info", { name: request.name }) as StreamInfo;
  const end = info.nextOffset;
  const messages: StoredMessage[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  let bytes = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    queueMicrotask(resolve);
  };
  const sink: DurableSink = {
    id: request.id,
    get closed() {
      return finished;
    },
    streamDeliver(_sid, offset, timestamp, message) {
      if (finished) return false;
      if (messages.length > 0 && bytes + message.length > request.maxBytes) {
        finish();
        return false;
      }
      messages.push({ offset, timestamp, section: message.slice() });
      bytes += message.length;
      if (messages.length >= request.max || offset + 1 >= end) finish();
      return true;
    },
    queueDeliver() {},
    onWritable() {},
  };
  const reader = store.subscribe(
    sink,
    1,
    request.name,
    request.pattern,
    request.start,
    request.max,
  );
  const check = () => {
    if (reader.closed || reader.nextOffset >= end) finish();
  };
  check();
  const timer = finished ? undefined : setInterval(check, CHECK_MS);
  try {
    await promise;
  } finally {
    clearInterval(timer);
    reader.close();
  }
  return { messages, nextOffset: reader.nextOffset };
}
