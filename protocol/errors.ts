// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * The stable error codes of mb. They travel on the wire in error frames and
 * are the value of {@linkcode MbError.code}; callers branch on them. Adding a
 * code is allowed, renaming one is a breaking change. `protocol/PROTOCOL.md`
 * lists what each means.
 */
export type MbErrorCode =
  | "FRAME_TOO_LARGE"
  | "FRAME_MALFORMED"
  | "FRAME_UNKNOWN"
  | "PROTOCOL_VERSION"
  | "HANDSHAKE_REQUIRED"
  | "HANDSHAKE_TIMEOUT"
  | "AUTH_FAILED"
  | "TOPIC_INVALID"
  | "PAYLOAD_TOO_LARGE"
  | "HEADERS_INVALID"
  | "SUBSCRIPTION_LIMIT"
  | "SUBSCRIPTION_UNKNOWN"
  | "SLOW_CONSUMER"
  | "STALE_CONNECTION"
  | "CONNECTION_LIMIT"
  | "CONNECTION_CLOSED"
  | "CONNECTION_FAILED"
  | "SERVER_SHUTDOWN"
  | "NO_RESPONDERS"
  | "TIMEOUT"
  | "INVALID_ARGUMENT"
  | "UNSUPPORTED_TRANSPORT"
  | "STORAGE_FAILED"
  | "STORAGE_FULL"
  | "STREAM_UNKNOWN"
  | "QUEUE_UNKNOWN"
  | "MESSAGE_UNKNOWN"
  | "OFFSET_OUT_OF_RANGE"
  | "ALREADY_EXISTS"
  | "INTERNAL";

/**
 * Every code in {@linkcode MbErrorCode}, for validation and documentation.
 *
 * @example Check a code received from elsewhere
 * ```ts
 * import { MB_ERROR_CODES } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(MB_ERROR_CODES.includes("TOPIC_INVALID"));
 * ```
 */
export const MB_ERROR_CODES: readonly MbErrorCode[] = [
  "FRAME_TOO_LARGE",
  "FRAME_MALFORMED",
  "FRAME_UNKNOWN",
  "PROTOCOL_VERSION",
  "HANDSHAKE_REQUIRED",
  "HANDSHAKE_TIMEOUT",
  "AUTH_FAILED",
  "TOPIC_INVALID",
  "PAYLOAD_TOO_LARGE",
  "HEADERS_INVALID",
  "SUBSCRIPTION_LIMIT",
  "SUBSCRIPTION_UNKNOWN",
  "SLOW_CONSUMER",
  "STALE_CONNECTION",
  "CONNECTION_LIMIT",
  "CONNECTION_CLOSED",
  "CONNECTION_FAILED",
  "SERVER_SHUTDOWN",
  "NO_RESPONDERS",
  "TIMEOUT",
  "INVALID_ARGUMENT",
  "UNSUPPORTED_TRANSPORT",
  "STORAGE_FAILED",
  "STORAGE_FULL",
  "STREAM_UNKNOWN",
  "QUEUE_UNKNOWN",
  "MESSAGE_UNKNOWN",
  "OFFSET_OUT_OF_RANGE",
  "ALREADY_EXISTS",
  "INTERNAL",
];

/**
 * The one error class of mb: a message for people and a stable `code` for
 * programs. The broker sends it as an error frame and the client rebuilds the
 * same error from that frame.
 *
 * @example Branch on the code
 * ```ts
 * import { MbError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new MbError("TOPIC_INVALID", 'Cannot publish to "a//b": empty level');
 * assert.ok(err instanceof Error);
 * assert.equal(err.code, "TOPIC_INVALID");
 * assert.equal(err.name, "MbError");
 * ```
 */
export class MbError extends Error {
  /** The stable code of this error; see {@linkcode MbErrorCode}. */
  readonly code: MbErrorCode;

  /**
   * Creates an error with a code.
   *
   * @param code The stable code.
   * @param message What failed, in a sentence without a final period.
   * @param options The standard `cause`.
   */
  constructor(code: MbErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MbError";
    this.code = code;
  }
}

/**
 * Tells whether a string is one of the known {@linkcode MbErrorCode}s.
 *
 * @param code The string to check.
 * @returns `true` when the code is known.
 *
 * @example
 * ```ts
 * import { isMbErrorCode } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isMbErrorCode("TIMEOUT"));
 * assert.ok(!isMbErrorCode("NOPE"));
 * ```
 */
export function isMbErrorCode(code: string): code is MbErrorCode {
  return (MB_ERROR_CODES as readonly string[]).includes(code);
}

const CONNECTION_FATAL: ReadonlySet<string> = new Set<MbErrorCode>([
  "FRAME_TOO_LARGE",
  "FRAME_MALFORMED",
  "FRAME_UNKNOWN",
  "PROTOCOL_VERSION",
  "HANDSHAKE_REQUIRED",
  "HANDSHAKE_TIMEOUT",
  "AUTH_FAILED",
  "SLOW_CONSUMER",
  "STALE_CONNECTION",
  "CONNECTION_LIMIT",
]);

/**
 * Tells whether the broker closes the connection after sending an error
 * with this code (as opposed to refusing one request).
 *
 * @param code An error code.
 * @returns `true` for codes that end the connection.
 *
 * @example
 * ```ts
 * import { isConnectionFatal } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isConnectionFatal("AUTH_FAILED"));
 * assert.ok(!isConnectionFatal("TOPIC_INVALID"));
 * ```
 */
export function isConnectionFatal(code: MbErrorCode): boolean {
  return CONNECTION_FATAL.has(code);
}
