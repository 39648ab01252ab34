// Copyright mb authors. MIT license.
// Administration over HTTP: each route runs one store command.

import { quote } from "../../protocol/_text.ts";
import { MbError } from "../../protocol/errors.ts";
import { readJsonObject } from "./_http_body.ts";
import type { HttpContext, HttpHandler } from "./_http_context.ts";
import { decodeSegment } from "./_http_params.ts";

/** A handler running `op` without arguments, its result under `key`. */
export function listCommand(op: string, key: string): HttpHandler {
  return async (ctx) => Response.json({ [key]: await ctx.store.command(op, {}) });
}

/** A handler running `op` with the JSON body as arguments. */
export function bodyCommand(op: string): HttpHandler {
  return async (ctx, request) => {
    const body = await readJsonObject(request, ctx.maxPayloadBytes);
    return Response.json(await ctx.store.command(op, body));
  };
}

/** A handler running `op` on the stream or queue the path names. */
export function namedCommand(op: string): HttpHandler {
  return async (ctx, _request, _url, params) =>
    Response.json(await ctx.store.command(op, { name: decodeSegment(params.name) }));
}

/** `PUT /v1/queues/{name}`: declares the queue with the body's settings. */
export async function declareQueue(
  ctx: HttpContext,
  request: Request,
  _url: URL,
  params: Record<string, string>,
): Promise<Response> {
  const name = decodeSegment(params.name);
  const body = await readJsonObject(request, ctx.maxPayloadBytes);
  if (body.name !== undefined && body.name !== name) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Cannot declare queue ${quote(name)} with a body naming ${quote(String(body.name))}`,
    );
  }
  return Response.json(await ctx.store.command("queue.declare", { ...body, name }));
}
