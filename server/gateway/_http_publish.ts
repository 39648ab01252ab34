// Copyright mb authors. MIT license.
// `POST /v1/topics/{topic}`: a publish over HTTP, on the same path as a
// native one (server/publish.ts).

import { quote } from "../../protocol/_text.ts";
import { decodeStoredResult } from "../../protocol/durable.ts";
import { encodeMessageSection } from "../../protocol/encode.ts";
import { MbError } from "../../protocol/errors.ts";
import { encodeHeaders } from "../../protocol/headers.ts";
import { publishMessage, publishProblem, PublishResult } from "../publish.ts";
import { readBody } from "./_http_body.ts";
import type { HttpContext } from "./_http_context.ts";
import { messageHeadersOf } from "./_http_message.ts";
import { booleanParam, topicFromPath } from "./_http_params.ts";

/** Publishes the body; with `confirm`, answers once stored with the stream offset. */
export async function publish(
  ctx: HttpContext,
  request: Request,
  url: URL,
  params: Record<string, string>,
): Promise<Response> {
  const { router, store, maxPayloadBytes } = ctx;
  const topic = topicFromPath(params.topic);
  const query = url.searchParams;
  const replyTo = query.get("reply_to") ?? "";
  const confirm = booleanParam(query.get("confirm"), "confirm");
  // Refuse a bad topic before reading the body.
  const early = publishProblem(topic, replyTo, 0, maxPayloadBytes);
  if (early !== undefined) throw early;
  const payload = await readBody(request, maxPayloadBytes);
  const message = encodeMessageSection(
    topic,
    replyTo,
    encodeHeaders(messageHeadersOf(request.headers)),
    payload,
  );
  if (!confirm) {
    publishMessage(router, store, topic, message);
    // Publishers wait while the store is behind on writing, as native ones do.
    if (store.backlogged) await store.whenStored();
    return Response.json({}, { status: 202 });
  }
  const stored = Promise.withResolvers<Record<string, unknown>>();
  const result = publishMessage(router, store, topic, message, (error, bytes) => {
    if (error !== undefined) stored.reject(error);
    else stored.resolve(decodeStoredResult(bytes) ?? {});
  }, 1);
  if ((result & PublishResult.Captured) === 0) {
    if ((result & PublishResult.Delivered) === 0 && replyTo !== "") {
      throw new MbError("NO_RESPONDERS", `No subscribers for ${quote(topic)}`);
    }
    return Response.json({});
  }
  return Response.json(await stored.promise);
}
