// Copyright mb authors. MIT license.
// Parameters of HTTP API requests: path segments, query strings and JSON
// fields turned into checked values, with INVALID_ARGUMENT for bad ones.

import { quote } from "../../protocol/_text.ts";
import { MbError } from "../../protocol/errors.ts";
import type { StreamStart } from "../../protocol/frames.ts";
import { queueGroupProblem } from "../../protocol/topic.ts";

const DIGITS_REGEXP = /^\d+$/;

/** Percent-decodes one path segment. */
export function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new MbError("INVALID_ARGUMENT", `Cannot decode path segment ${quote(raw)}`);
  }
}

/**
 * The topic of `/v1/topics/<levels>`: the rest of the path, each level
 * percent-decoded on its own (so an encoded `/` cannot make a new level).
 *
 * @throws {MbError} `TOPIC_INVALID` for a level holding `%2F`.
 */
export function topicFromPath(raw: string): string {
  const levels = raw.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = decodeSegment(levels[i]);
    if (level.includes("/")) {
      throw new MbError(
        "TOPIC_INVALID",
        `Cannot use topic level ${quote(level)}: a level cannot hold '/'`,
      );
    }
    levels[i] = level;
  }
  return levels.join("/");
}

/** A query parameter, or the field of the same name in a JSON body, as an integer. */
export function integerParam(
  value: unknown,
  name: string,
  options: { fallback: number; min: number; max: number },
): number {
  if (value === undefined || value === null || value === "") return options.fallback;
  const number = typeof value === "string" && DIGITS_REGEXP.test(value) ? Number(value) : value;
  if (
    typeof number !== "number" || !Number.isSafeInteger(number) || number < options.min ||
    number > options.max
  ) {
    throw new MbError(
      "INVALID_ARGUMENT",
      `Invalid ${name} ${
        quote(String(value))
      }: expected an integer from ${options.min} to ${options.max}`,
    );
  }
  return number;
}

/** A flag: absent is false; `true`, `1` or empty (`?confirm`) is true; `false`, `0` false. */
export function booleanParam(value: string | null, name: string): boolean {
  if (value === null || value === "false" || value === "0") return false;
  if (value === "" || value === "true" || value === "1") return true;
  throw new MbError("INVALID_ARGUMENT", `Invalid ${name} ${quote(value)}: expected true or false`);
}

/**
 * Where a stream read starts: `first`, `last`, `new` (the default), an
 * offset, or an ISO 8601 date.
 */
export function streamStart(from: string | null): StreamStart {
  if (from === null || from === "" || from === "new") return { kind: "new" };
  if (from === "first") return { kind: "first" };
  if (from === "last") return { kind: "last" };
  if (DIGITS_REGEXP.test(from)) {
    const value = Number(from);
    if (Number.isSafeInteger(value)) return { kind: "offset", value };
  } else {
    const time = Date.parse(from);
    if (!Number.isNaN(time)) return { kind: "time", value: time };
  }
  throw new MbError(
    "INVALID_ARGUMENT",
    `Invalid from ${quote(from)}: expected an offset, first, last, new or an ISO 8601 date`,
  );
}

/** The offset after the one a `Last-Event-ID` names. */
export function resumeAfter(lastEventId: string): StreamStart {
  if (DIGITS_REGEXP.test(lastEventId)) {
    const value = Number(lastEventId);
    if (Number.isSafeInteger(value)) return { kind: "offset", value: value + 1 };
  }
  throw new MbError(
    "INVALID_ARGUMENT",
    `Invalid Last-Event-ID ${quote(lastEventId)}: expected a stream offset`,
  );
}

/** Checks a queue group name as a native subscribe does. */
export function checkQueueGroup(queue: string): void {
  const problem = queueGroupProblem(queue);
  if (problem !== undefined) {
    throw new MbError("INVALID_ARGUMENT", `Invalid queue group ${quote(queue)}: ${problem}`);
  }
}

/** How message payloads are answered. */
export type AnswerEncoding = "text" | "base64" | "raw";

/**
 * The `encoding` parameter (`text`, the default; `base64`; `raw` where
 * `allowRaw`); without one, `Accept: application/octet-stream` means `raw`.
 */
export function answerEncoding(
  encoding: unknown,
  accept: string | null,
  allowRaw: boolean,
): AnswerEncoding {
  if (encoding === undefined || encoding === null || encoding === "") {
    return allowRaw && acceptsOnlyBytes(accept) ? "raw" : "text";
  }
  if (encoding === "text" || encoding === "base64" || (allowRaw && encoding === "raw")) {
    return encoding;
  }
  throw new MbError(
    "INVALID_ARGUMENT",
    `Invalid encoding ${quote(String(encoding))}: expected text${
      allowRaw ? ", base64 or raw" : " or base64"
    }`,
  );
}

function acceptsOnlyBytes(accept: string | null): boolean {
  return accept !== null && accept.includes("application/octet-stream") &&
    !accept.includes("json");
}
