// Copyright mb authors. MIT license.
// The one long-lived queue sink of the HTTP API: every HTTP fetch pulls
// through it (each under its own sid), so the messages it fetched stay in
// flight to it and any later HTTP request can ack or nack them; unacked
// ones are redelivered after the queue's ackWaitMs.

import { quote } from "../../protocol/_text.ts";
import { encodeMessageSection } from "../../protocol/encode.ts";
import { MbError } from "../../protocol/errors.ts";
import { AckAction } from "../../protocol/frames.ts";
import { encodeHeaders } from "../../protocol/headers.ts";
import { topicProblem } from "../../protocol/topic.ts";
import type { DurableStore } from "../store/durable_store.ts";
import type { DurableSink } from "../store/sink.ts";
import { readBody, readJsonObject } from "./_http_body.ts";
import type { HttpContext, HttpHandler } from "./_http_context.ts";
import { addMessageJson, messageHeadersOf, rawAnswer } from "./_http_message.ts";
import { answerEncoding, decodeSegment, integerParam } from "./_http_params.ts";

/** A queue message fetched over HTTP, its section copied. */
export interface FetchedMessage {
  id: number;
  deliveryCount: number;
  timestamp: number;
  section: Uint8Array;
}

/** Sids wrap below this. */
const MAX_SID = 0x7fffffff;
/** Most messages one fetch returns. */
const MAX_FETCH = 1000;
/** Message bytes past which a fetch's answer takes no more (the rest go back). */
const FETCH_BYTES = 1024 * 1024;

/** The HTTP API's sink for queue fetches. */
export class HttpQueueSink implements DurableSink {
  readonly id: number;
  #closed = false;
  #fetches = new Map<number, FetchedMessage[]>();
  #nextSid = 0;

  constructor(id: number) {
    this.id = id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Pulls up to `max` messages from queue `name`, waiting up to `waitMs` for the first. */
  async fetch(
    store: DurableStore,
    name: string,
    max: number,
    waitMs: number,
  ): Promise<FetchedMessage[]> {
    let sid = this.#nextSid;
    do sid = sid >= MAX_SID ? 1 : sid + 1; while (this.#fetches.has(sid));
    this.#nextSid = sid;
    const into: FetchedMessage[] = [];
    this.#fetches.set(sid, into);
    try {
      await store.fetch(this, sid, name, max, waitMs);
    } finally {
      this.#fetches.delete(sid);
    }
    return into;
  }

  streamDeliver(): boolean {
    return false;
  }

  queueDeliver(
    sid: number,
    messageId: number,
    deliveryCount: number,
    timestamp: number,
    message: Uint8Array,
  ): void {
    // A delivery for a fetch that already answered stays in flight until ackWaitMs.
    this.#fetches.get(sid)?.push({
      id: messageId,
      deliveryCount,
      timestamp,
      section: message.slice(),
    });
  }

  onWritable(wake: () => void): void {
    queueMicrotask(wake);
  }

  /** No more fetches; the store gets back what is in flight. */
  close(store: DurableStore): void {
    if (this.#closed) return;
    this.#closed = true;
    store.detach(this);
  }
}

/** `POST /v1/queues/{name}/messages`: stores the body in the queue; answers `{ id }` once stored. */
export async function sendToQueue(
  ctx: HttpContext,
  request: Request,
  url: URL,
  params: Record<string, string>,
): Promise<Response> {
  const name = decodeSegment(params.name);
  const query = url.searchParams;
  const topic = query.get("topic") ?? "";
  const replyTo = query.get("reply_to") ?? "";
  for (const [what, value] of [["topic", topic], ["reply-to", replyTo]]) {
    const problem = value === "" ? undefined : topicProblem(value);
    if (problem !== undefined) {
      throw new MbError("TOPIC_INVALID", `Invalid ${what} ${quote(value)}: ${problem}`);
    }
  }
  const payload = await readBody(request, ctx.maxPayloadBytes);
  const message = encodeMessageSection(
    topic === "" ? name : topic,
    replyTo,
    encodeHeaders(messageHeadersOf(request.headers)),
    payload,
  );
  const stored = Promise.withResolvers<number>();
  ctx.store.send(name, message, (error, id) => {
    if (error !== undefined) stored.reject(error);
    else stored.resolve(id);
  });
  return Response.json({ id: await stored.promise });
}

/**
 * `POST /v1/queues/{name}/fetch`: up to `max` messages within `waitMs`
 * (JSON body or query), or the first as raw bytes.
 */
export async function fetchFromQueue(
  ctx: HttpContext,
  request: Request,
  url: URL,
  params: Record<string, string>,
): Promise<Response> {
  const name = decodeSegment(params.name);
  const body = await readJsonObject(request, ctx.maxPayloadBytes);
  const query = url.searchParams;
  const encoding = answerEncoding(
    body.encoding ?? query.get("encoding"),
    request.headers.get("accept"),
    true,
  );
  const max = encoding === "raw" ? 1 : integerParam(body.max ?? query.get("max"), "max", {
    fallback: 1,
    min: 1,
    max: MAX_FETCH,
  });
  const waitMs = integerParam(body.waitMs ?? query.get("waitMs"), "waitMs", {
    fallback: 0,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  const fetched = await ctx.queueSink.fetch(ctx.store, name, max, waitMs);
  // Messages that do not fit in the answer go back to the queue at once,
  // instead of waiting ackWaitMs in flight to nobody.
  const giveBack = (items: FetchedMessage[]) =>
    Promise.all(
      items.map((item) =>
        ctx.store.settle(ctx.queueSink, name, item.id, AckAction.Nack, 0).catch(() => {})
      ),
    );
  if (encoding === "raw") {
    const first = fetched[0];
    if (first === undefined) return new Response(null, { status: 204 });
    return rawAnswer(first.section, {
      "mb-message-id": first.id,
      "mb-delivery-count": first.deliveryCount,
      "mb-timestamp": first.timestamp,
    });
  }
  const messages = [];
  let bytes = 0;
  let taken = 0;
  // About FETCH_BYTES of messages per answer (always one): the rest go back.
  for (; taken < fetched.length && (taken === 0 || bytes < FETCH_BYTES); taken++) {
    const item = fetched[taken];
    const fields = { id: item.id, deliveryCount: item.deliveryCount, timestamp: item.timestamp };
    messages.push(addMessageJson(fields, item.section, encoding));
    bytes += item.section.length;
  }
  await giveBack(fetched.slice(taken));
  return Response.json({ messages });
}

/** `POST /v1/queues/{name}/ack` or `/nack`: settles a message an HTTP fetch took. */
export function settleMessage(action: AckAction): HttpHandler {
  return async (ctx, request, url, params) => {
    const name = decodeSegment(params.name);
    const body = await readJsonObject(request, ctx.maxPayloadBytes);
    const query = url.searchParams;
    const idValue = body.id ?? query.get("id");
    if (idValue === undefined || idValue === null) {
      throw new MbError("INVALID_ARGUMENT", "Cannot settle a message: id is missing");
    }
    const id = integerParam(idValue, "id", { fallback: 0, min: 0, max: Number.MAX_SAFE_INTEGER });
    const delayMs = action === AckAction.Nack
      ? integerParam(body.delayMs ?? query.get("delayMs"), "delayMs", {
        fallback: 0,
        min: 0,
        max: Number.MAX_SAFE_INTEGER,
      })
      : 0;
    await ctx.store.settle(ctx.queueSink, name, id, action, delayMs);
    return Response.json({});
  };
}
