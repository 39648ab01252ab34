// Copyright mb authors. MIT license.
// This module is browser compatible.

import { utf8Length } from "./_bytes.ts";
import { quote } from "./_text.ts";
import { MbError } from "./errors.ts";
import { MAX_TOPIC_BYTES } from "./frames.ts";

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

/**
 * Explains why `topic` cannot be published to, or returns `undefined` when
 * it can. A topic is 1 to {@linkcode MAX_TOPIC_BYTES} UTF-8 bytes of
 * `/`-separated, non-empty levels, without `+`, `#`, U+0000, U+FFFD (the
 * mark of invalid UTF-8) or a lone surrogate (which has no UTF-8 form).
 *
 * @param topic The topic to check.
 * @returns The reason it is invalid, or `undefined`.
 *
 * @example
 * ```ts
 * import { topicProblem } from "./topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(topicProblem("sensors/kitchen/temp"), undefined);
 * assert.equal(topicProblem("sensors//temp"), "empty level");
 * assert.equal(topicProblem("sensors/+"), "wildcard in a topic");
 * ```
 */
export function topicProblem(topic: string): string | undefined {
  return check(topic, false);
}

/**
 * Explains why `queue` cannot name a queue group, or returns `undefined`
 * when it can (`""` means no group). A group name follows the topic rules
 * and holds no `/`, `+` or `#`.
 *
 * @param queue The queue group name.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { queueGroupProblem } from "./topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(queueGroupProblem("workers"), undefined);
 * assert.equal(queueGroupProblem("a/b"), "'/', '+' and '#' are not allowed");
 * ```
 */
export function queueGroupProblem(queue: string): string | undefined {
  if (queue === "") return undefined;
  if (queue.includes("/") || queue.includes("+") || queue.includes("#")) {
    return "'/', '+' and '#' are not allowed";
  }
  return topicProblem(queue);
}

/**
 * Explains why `pattern` cannot be subscribed to, or returns `undefined`
 * when it can. Like a topic, but a level may be `+` (exactly one level) and
 * the last level may be `#` (all remaining levels, at least the parent).
 *
 * @param pattern The pattern to check.
 * @returns The reason it is invalid, or `undefined`.
 *
 * @example
 * ```ts
 * import { patternProblem } from "./topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(patternProblem("sensors/+/temp"), undefined);
 * assert.equal(patternProblem("sensors/#"), undefined);
 * assert.equal(patternProblem("sensors/#/temp"), "'#' must be the last level");
 * assert.equal(patternProblem("sensors/ki+"), "'+' must be a whole level");
 * ```
 */
export function patternProblem(pattern: string): string | undefined {
  return check(pattern, true);
}

/**
 * Throws unless `topic` is a valid publish topic.
 *
 * @param topic The topic to check.
 * @throws {MbError} `TOPIC_INVALID` with the reason.
 *
 * @example
 * ```ts
 * import { validateTopic } from "./topic.ts";
 * import assert from "node:assert/strict";
 *
 * validateTopic("a/b");
 * assert.throws(() => validateTopic("a/#"), { code: "TOPIC_INVALID" });
 * ```
 */
export function validateTopic(topic: string): void {
  const problem = check(topic, false);
  if (problem !== undefined) {
    throw new MbError("TOPIC_INVALID", `Invalid topic ${quote(topic)}: ${problem}`);
  }
}

/**
 * Throws unless `pattern` is a valid subscription pattern.
 *
 * @param pattern The pattern to check.
 * @throws {MbError} `TOPIC_INVALID` with the reason.
 *
 * @example
 * ```ts
 * import { validatePattern } from "./topic.ts";
 * import assert from "node:assert/strict";
 *
 * validatePattern("a/+/c/#");
 * assert.throws(() => validatePattern("a/#/c"), { code: "TOPIC_INVALID" });
 * ```
 */
export function validatePattern(pattern: string): void {
  const problem = check(pattern, true);
  if (problem !== undefined) {
    throw new MbError("TOPIC_INVALID", `Invalid pattern ${quote(pattern)}: ${problem}`);
  }
}

/**
 * Tells whether `topic` matches `pattern`. `+` matches one level, `#` the
 * rest of the topic (including its parent level, so `a/#` matches `a`). A
 * topic that starts with `$` is never matched by a leading `+` or `#`.
 *
 * @param pattern A valid pattern.
 * @param topic A valid topic.
 * @returns `true` on a match.
 *
 * @example
 * ```ts
 * import { matchTopic } from "./topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(matchTopic("sensors/+/temp", "sensors/kitchen/temp"));
 * assert.ok(matchTopic("sensors/#", "sensors/kitchen/temp"));
 * assert.ok(!matchTopic("#", "$SYS/uptime"));
 * assert.ok(matchTopic("$SYS/#", "$SYS/uptime"));
 * ```
 */
export function matchTopic(pattern: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 0x24 && (pattern[0] === "+" || pattern[0] === "#")) {
    return false;
  }
  const p = pattern.split("/");
  const t = topic.split("/");
  for (let i = 0; i < p.length; i++) {
    const level = p[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return p.length === t.length;
}

function check(text: string, wildcards: boolean): string | undefined {
  const n = text.length;
  if (n === 0) return "empty";
  if (n > MAX_TOPIC_BYTES / 3 && utf8Length(text) > MAX_TOPIC_BYTES) {
    return `longer than ${MAX_TOPIC_BYTES} bytes`;
  }
  let levelStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? SLASH : text.charCodeAt(i);
    if (c === SLASH) {
      if (i === levelStart) return "empty level";
      levelStart = i + 1;
    } else if (c === PLUS || c === HASH) {
      if (!wildcards) return "wildcard in a topic";
      const whole = i === levelStart && (i + 1 === n || text.charCodeAt(i + 1) === SLASH);
      if (!whole) return `'${text[i]}' must be a whole level`;
      if (c === HASH && i + 1 !== n) return "'#' must be the last level";
    } else if (c === 0 || c === 0xfffd) {
      return c === 0 ? "contains U+0000" : "invalid UTF-8";
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate has no UTF-8 form: it would go out as U+FFFD.
      const next = text.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return "invalid UTF-8";
      i++;
    }
  }
  return undefined;
}
