// Copyright mb authors. MIT license.
// Error responses of the HTTP API: `{ "error": { "code", "message" } }` with
// the HTTP status that fits the code.

import { getLogger } from "@logtape/logtape";
import { MbError, type MbErrorCode } from "../../protocol/errors.ts";

const logger = getLogger(["mb", "http"]);

/**
 * Codes only the HTTP API answers with (no route, wrong method), besides
 * every {@linkcode MbErrorCode}.
 */
export type HttpErrorCode = MbErrorCode | "NOT_FOUND" | "METHOD_NOT_ALLOWED";

/** The HTTP status of each error code; codes not listed answer 500. */
export const HTTP_STATUS: Readonly<Partial<Record<HttpErrorCode, number>>> = {
  TOPIC_INVALID: 400,
  INVALID_ARGUMENT: 400,
  HEADERS_INVALID: 400,
  OFFSET_OUT_OF_RANGE: 400,
  SUBSCRIPTION_UNKNOWN: 400,
  AUTH_FAILED: 401,
  NOT_FOUND: 404,
  STREAM_UNKNOWN: 404,
  QUEUE_UNKNOWN: 404,
  MESSAGE_UNKNOWN: 404,
  METHOD_NOT_ALLOWED: 405,
  ALREADY_EXISTS: 409,
  PAYLOAD_TOO_LARGE: 413,
  SUBSCRIPTION_LIMIT: 429,
  CONNECTION_LIMIT: 429,
  STORAGE_FAILED: 500,
  INTERNAL: 500,
  NO_RESPONDERS: 503,
  SERVER_SHUTDOWN: 503,
  TIMEOUT: 504,
  STORAGE_FULL: 507,
};

/** The HTTP status for an error code. */
export function httpStatus(code: HttpErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

/** A JSON error response. */
export function errorResponse(
  code: HttpErrorCode,
  message: string,
  headers?: HeadersInit,
): Response {
  return Response.json({ error: { code, message } }, { status: httpStatus(code), headers });
}

/** The error response for anything thrown by a handler; unexpected errors are logged. */
export function responseForError(error: unknown): Response {
  if (error instanceof MbError) return errorResponse(error.code, error.message);
  logger.error("HTTP request failed: {error}", { error });
  return errorResponse("INTERNAL", `Internal error: ${error}`);
}
