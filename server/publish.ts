// Copyright mb authors. MIT license.

/**
 * The one publish path of the broker, shared by native sessions and the
 * HTTP API so that both validate and route a publish the same way:
 * {@linkcode publishProblem} checks it, {@linkcode publishMessage} fans it
 * out to subscribers and captures it into streams and queues.
 *
 * @module
 */

import { quote } from "../protocol/_text.ts";
import { MbError } from "../protocol/errors.ts";
import { topicProblem } from "../protocol/topic.ts";
import type { Router } from "./router.ts";
import type { DurableStore } from "./store/durable_store.ts";

/**
 * Bits of the value {@linkcode publishMessage} returns.
 *
 * @example
 * ```ts
 * import { PublishResult } from "./publish.ts";
 * import assert from "node:assert/strict";
 *
 * const result = PublishResult.Delivered | PublishResult.Captured;
 * assert.ok((result & PublishResult.Captured) !== 0);
 * ```
 */
export const PublishResult = {
  /** At least one subscription got the message. */
  Delivered: 1,
  /** At least one stream or queue captured it (its `onStored` will be called). */
  Captured: 2,
} as const;

/**
 * Why a publish is refused, or `undefined` when it may go ahead: the topic
 * must be a valid publish topic that does not start with `$` (those belong
 * to the broker), the reply-to (if any) a valid topic, and the payload at
 * most `maxPayloadBytes`.
 *
 * @param topic The topic.
 * @param replyTo The reply-to topic, or `""`.
 * @param payloadBytes The payload's size.
 * @param maxPayloadBytes The limit.
 * @returns An `MbError` (`TOPIC_INVALID`, `PAYLOAD_TOO_LARGE`) to answer
 * with, or `undefined`.
 *
 * @example
 * ```ts
 * import { publishProblem } from "./publish.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(publishProblem("sensors/kitchen", "", 4, 1024), undefined);
 * assert.equal(publishProblem("$SYS/x", "", 4, 1024)?.code, "TOPIC_INVALID");
 * assert.equal(publishProblem("a", "", 2048, 1024)?.code, "PAYLOAD_TOO_LARGE");
 * ```
 */
export function publishProblem(
  topic: string,
  replyTo: string,
  payloadBytes: number,
  maxPayloadBytes: number,
): MbError | undefined {
  const problem = topicProblem(topic);
  if (problem !== undefined) {
    return new MbError("TOPIC_INVALID", `Cannot publish to ${quote(topic)}: ${problem}`);
  }
  if (topic.charCodeAt(0) === 0x24) {
    return new MbError(
      "TOPIC_INVALID",
      `Cannot publish to ${quote(topic)}: topics starting with '$' belong to the broker`,
    );
  }
  if (replyTo !== "") {
    const replyProblem = topicProblem(replyTo);
    if (replyProblem !== undefined) {
      return new MbError("TOPIC_INVALID", `Invalid reply-to ${quote(replyTo)}: ${replyProblem}`);
    }
  }
  if (payloadBytes > maxPayloadBytes) {
    return new MbError(
      "PAYLOAD_TOO_LARGE",
      `Cannot publish ${payloadBytes} bytes: the limit is ${maxPayloadBytes}`,
    );
  }
  return undefined;
}

/**
 * Publishes a message checked by {@linkcode publishProblem}: delivers it to
 * every matching subscription, then captures it into every stream and queue
 * whose patterns match. Synchronous; no promise per message.
 *
 * @param router The routing core.
 * @param store Streams and queues.
 * @param topic The topic.
 * @param message The encoded message section (only read during the call).
 * @param onStored For a confirmed publish: called once every capture is
 * stored, with the first stream's offset (or empty bytes when only queues
 * took it), or with the first error. Not called when nothing captured it.
 * @param qos The publisher's quality of service, passed to subscribers.
 * @returns {@linkcode PublishResult} bits.
 *
 * @example
 * ```ts
 * import { publishMessage, PublishResult } from "./publish.ts";
 * import { Router } from "./router.ts";
 * import { DurableStore } from "./store/durable_store.ts";
 * import { encodeMessageSection } from "../protocol/encode.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = await DurableStore.open();
 * const router = new Router();
 * router.add({ sid: 1, pattern: "a/#", queue: "", subscriber: { deliver() {} } });
 * const message = encodeMessageSection("a/b", "", undefined, new Uint8Array([1]));
 * assert.equal(publishMessage(router, store, "a/b", message), PublishResult.Delivered);
 * ```
 */
export function publishMessage(
  router: Router,
  store: DurableStore,
  topic: string,
  message: Uint8Array,
  onStored?: (error: MbError | undefined, result: Uint8Array) => void,
  qos = 0,
): number {
  const delivered = router.publish(topic, message, qos) > 0 ? PublishResult.Delivered : 0;
  return store.capture(topic, message, onStored) ? delivered | PublishResult.Captured : delivered;
}
