// Copyright mb authors. MIT license.

import { encodeMessageSection } from "../protocol/encode.ts";
import type { RetainedMessages } from "./retained.ts";
import type { Router } from "./router.ts";

/** What {@linkcode publishSysTopics} reports. */
export interface SysFigures {
  /** The broker's version. */
  version: string;
  /** Seconds since start. */
  uptimeSeconds: number;
  /** Open connections, every protocol. */
  connections: number;
  /** Subscriptions held. */
  subscriptions: number;
  /** Messages published since start. */
  messagesIn: number;
  /** Deliveries since start. */
  messagesOut: number;
}

const encoder = new TextEncoder();

/**
 * Publishes the broker's figures as retained messages under `$SYS/broker/`,
 * the topics Mosquitto uses: `version`, `uptime` (`"12 seconds"`),
 * `clients/connected`, `subscriptions/count`, `messages/received`,
 * `messages/sent`. Topics starting with `$` are not matched by a leading
 * wildcard, so only a subscription to `$SYS/...` sees them.
 *
 * @param router The routing core.
 * @param retained The retained messages, so a new subscriber gets the last figures.
 * @param figures The figures.
 *
 * @example
 * ```ts
 * import { publishSysTopics } from "./sys_topics.ts";
 * import { Router } from "./router.ts";
 * import { RetainedMessages } from "./retained.ts";
 * import assert from "node:assert/strict";
 *
 * await using retained = await RetainedMessages.open();
 * publishSysTopics(new Router(), retained, {
 *   version: "1", uptimeSeconds: 3, connections: 0, subscriptions: 0, messagesIn: 0, messagesOut: 0,
 * });
 * assert.equal(retained.match("$SYS/broker/#").length, 6);
 * assert.equal(retained.match("#").length, 0);
 * ```
 */
export function publishSysTopics(
  router: Router,
  retained: RetainedMessages,
  figures: SysFigures,
): void {
  const entries: [string, string][] = [
    ["version", `mb ${figures.version}`],
    ["uptime", `${figures.uptimeSeconds} seconds`],
    ["clients/connected", String(figures.connections)],
    ["subscriptions/count", String(figures.subscriptions)],
    ["messages/received", String(figures.messagesIn)],
    ["messages/sent", String(figures.messagesOut)],
  ];
  for (const [name, value] of entries) {
    const topic = `$SYS/broker/${name}`;
    const payload = encoder.encode(value);
    const message = encodeMessageSection(topic, "", undefined, payload);
    retained.set(topic, message, 0, payload.length);
    router.route(topic, message, 0);
  }
}
