// Copyright mb authors. MIT license.
// This module is browser compatible.

import { utf8Length } from "./_bytes.ts";

const SHARE_PREFIX = "$share/";

/**
 * Why a string is not a valid MQTT topic name to publish to, or `undefined`:
 * not empty, no `+` or `#`, no U+0000, at most 65535 UTF-8 bytes. Empty
 * levels (`a//b`, `/a`) are valid in MQTT.
 *
 * @param topic The topic name.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { mqttTopicProblem } from "./mqtt_topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(mqttTopicProblem("a//b"), undefined);
 * assert.equal(mqttTopicProblem("a/+"), "wildcard in a topic name");
 * ```
 */
export function mqttTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return "empty";
  if (topic.includes("+") || topic.includes("#")) return "wildcard in a topic name";
  return textProblem(topic);
}

/**
 * Why a string is not a valid MQTT topic filter, or `undefined`: not empty,
 * `+` and `#` only as whole levels, `#` last, no U+0000, at most 65535 UTF-8
 * bytes. A shared subscription `$share/GROUP/FILTER` needs a non-empty
 * GROUP without `/`, `+` or `#`, and a valid FILTER.
 *
 * @param filter The topic filter.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { mqttFilterProblem } from "./mqtt_topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(mqttFilterProblem("sensors/+/temp"), undefined);
 * assert.equal(mqttFilterProblem("$share/workers/jobs/#"), undefined);
 * assert.equal(mqttFilterProblem("a/#/b"), "'#' must be the last level");
 * ```
 */
export function mqttFilterProblem(filter: string): string | undefined {
  if (filter.startsWith(SHARE_PREFIX)) {
    const shared = parseMqttSharedFilter(filter)!;
    if (shared.group === "") return "empty share group";
    if (/[+#]/.test(shared.group)) return "wildcard in the share group";
    if (shared.filter === "") return "no filter after the share group";
    return plainFilterProblem(shared.filter);
  }
  return plainFilterProblem(filter);
}

/**
 * Splits a shared subscription `$share/GROUP/FILTER`, or returns `undefined`
 * for a filter that is not one. It does not validate: see
 * {@linkcode mqttFilterProblem}.
 *
 * @param filter The topic filter.
 * @returns The group and the inner filter.
 *
 * @example
 * ```ts
 * import { parseMqttSharedFilter } from "./mqtt_topic.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseMqttSharedFilter("$share/g/a/#"), { group: "g", filter: "a/#" });
 * assert.equal(parseMqttSharedFilter("a/#"), undefined);
 * ```
 */
export function parseMqttSharedFilter(
  filter: string,
): { group: string; filter: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash < 0) return { group: rest, filter: "" };
  return { group: rest.slice(0, slash), filter: rest.slice(slash + 1) };
}

function plainFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return "empty";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level === "#") {
      if (i !== levels.length - 1) return "'#' must be the last level";
    } else if (level !== "+" && (level.includes("+") || level.includes("#"))) {
      return "'+' and '#' must be whole levels";
    }
  }
  return textProblem(filter);
}

function textProblem(text: string): string | undefined {
  if (text.includes("\0")) return "contains U+0000";
  if (text.length > 0xffff / 3 && utf8Length(text) > 0xffff) return "longer than 65535 bytes";
  return undefined;
}
