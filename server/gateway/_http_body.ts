// Copyright mb authors. MIT license.
// Request bodies under a size limit: refused from Content-Length when it is
// declared, otherwise counted while read and cancelled past the limit, so a
// body over the limit is never buffered whole.

import { MbError } from "../../protocol/errors.ts";

const EMPTY = new Uint8Array(0);

/**
 * Reads a request body of at most `limit` bytes.
 *
 * @throws {MbError} `PAYLOAD_TOO_LARGE` past the limit (the body is
 * cancelled); `INVALID_ARGUMENT` when the body cannot be read.
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const body = request.body;
  if (body === null) return EMPTY;
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (Number.isSafeInteger(length) && length > limit) {
      await body.cancel().catch(() => {});
      throw tooLarge(`Cannot accept a body of ${length} bytes: the limit is ${limit}`);
    }
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(`Cannot accept a body of more than ${limit} bytes: the limit is ${limit}`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof MbError) throw error;
    throw new MbError("INVALID_ARGUMENT", `Cannot read the request body: ${error}`);
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    out.set(chunks[i], at);
    at += chunks[i].length;
  }
  return out;
}

/**
 * Reads an optional JSON object body (empty means `{}`).
 *
 * @throws {MbError} `INVALID_ARGUMENT` when it is not a JSON object;
 * `PAYLOAD_TOO_LARGE` past the limit.
 */
export async function readJsonObject(
  request: Request,
  limit: number,
): Promise<Record<string, unknown>> {
  const bytes = await readBody(request, limit);
  if (bytes.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new MbError("INVALID_ARGUMENT", `Cannot parse the request body as JSON: ${error}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new MbError("INVALID_ARGUMENT", "Cannot use the request body: not a JSON object");
  }
  return value as Record<string, unknown>;
}

function tooLarge(message: string): MbError {
  return new MbError("PAYLOAD_TOO_LARGE", message);
}
