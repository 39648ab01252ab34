// Copyright mb authors. MIT license.

import { quote } from "../../protocol/_text.ts";
import { nameProblem, type QueueConfig, type StreamConfig } from "../../protocol/durable.ts";
import { MbError } from "../../protocol/errors.ts";
import { patternProblem } from "../../protocol/topic.ts";

const MAX_TOPICS = 64;

function invalid(message: string): MbError {
  return new MbError("INVALID_ARGUMENT", message);
}

function checkName(what: string, name: unknown): string {
  const problem = nameProblem(name as string);
  if (problem !== undefined) {
    throw invalid(`Invalid ${what} name ${quote(String(name))}: ${problem}`);
  }
  return name as string;
}

function checkTopics(what: string, topics: unknown, required: boolean): string[] {
  if (topics === undefined && !required) return [];
  if (!Array.isArray(topics) || (required && topics.length === 0)) {
    throw invalid(`Invalid ${what}: topics must be a list of at least one pattern`);
  }
  if (topics.length > MAX_TOPICS) {
    throw invalid(`Invalid ${what}: more than ${MAX_TOPICS} topic patterns`);
  }
  for (const topic of topics) {
    const problem = typeof topic === "string" ? patternProblem(topic) : "not a string";
    if (problem !== undefined) {
      throw invalid(`Invalid ${what}: topic pattern ${quote(String(topic))}: ${problem}`);
    }
  }
  return [...new Set(topics as string[])];
}

/** A limit: absent, or a non-negative safe integer (0 means none). */
function checkLimit(what: string, field: string, value: unknown, min = 0): number | undefined {
  if (value === undefined || value === null || value === 0) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`Invalid ${what}: ${field} must be an integer of at least ${min}, got ${value}`);
  }
  return value;
}

/**
 * Checks a stream configuration from a client or a file and returns it with
 * only known fields, limits of 0 dropped.
 *
 * @throws {MbError} `INVALID_ARGUMENT` naming the bad field.
 */
export function normalizeStreamConfig(config: StreamConfig): StreamConfig {
  if (typeof config !== "object" || config === null) throw invalid("Invalid stream: not an object");
  const name = checkName("stream", config.name);
  const what = `stream ${quote(name)}`;
  const normal: StreamConfig = { name, topics: checkTopics(what, config.topics, true) };
  const maxMsgs = checkLimit(what, "maxMsgs", config.maxMsgs);
  const maxBytes = checkLimit(what, "maxBytes", config.maxBytes);
  const maxAgeMs = checkLimit(what, "maxAgeMs", config.maxAgeMs);
  if (maxMsgs !== undefined) normal.maxMsgs = maxMsgs;
  if (maxBytes !== undefined) normal.maxBytes = maxBytes;
  if (maxAgeMs !== undefined) normal.maxAgeMs = maxAgeMs;
  return normal;
}

/**
 * Checks a queue configuration and fills in the defaults (`ackWaitMs`
 * 30000, `maxDeliver` 5).
 *
 * @throws {MbError} `INVALID_ARGUMENT` naming the bad field.
 */
export function normalizeQueueConfig(config: QueueConfig): QueueConfig {
  if (typeof config !== "object" || config === null) throw invalid("Invalid queue: not an object");
  const name = checkName("queue", config.name);
  const what = `queue ${quote(name)}`;
  const normal: QueueConfig = {
    name,
    topics: checkTopics(what, config.topics, false),
    ackWaitMs: checkLimit(what, "ackWaitMs", config.ackWaitMs, 1) ?? 30_000,
    maxDeliver: checkLimit(what, "maxDeliver", config.maxDeliver, 1) ?? 5,
  };
  if (config.deadLetter !== undefined && config.deadLetter !== null && config.deadLetter !== "") {
    normal.deadLetter = checkName("dead-letter queue", config.deadLetter);
    if (normal.deadLetter === name) {
      throw invalid(`Invalid ${what}: it cannot be its own dead-letter queue`);
    }
  }
  const maxBytes = checkLimit(what, "maxBytes", config.maxBytes);
  if (maxBytes !== undefined) normal.maxBytes = maxBytes;
  return normal;
}

/** Whether two normalized configurations are the same. */
export function sameConfig(a: StreamConfig | QueueConfig, b: StreamConfig | QueueConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
