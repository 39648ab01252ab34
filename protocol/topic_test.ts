// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { MbError } from "./errors.ts";
import { MAX_TOPIC_BYTES } from "./frames.ts";
import {
  matchTopic,
  patternProblem,
  topicProblem,
  validatePattern,
  validateTopic,
} from "./topic.ts";

const WHOLE_LEVEL_PLUS = "'+' must be a whole level";
const WHOLE_LEVEL_HASH = "'#' must be a whole level";
const HASH_LAST = "'#' must be the last level";
const TOO_LONG = `longer than ${MAX_TOPIC_BYTES} bytes`;

/** [text, problem as a topic, problem as a pattern]; `undefined` = valid. */
const VALIDITY: [string, string | undefined, string | undefined][] = [
  ["a", undefined, undefined],
  ["sensors/kitchen/temp", undefined, undefined],
  ["$SYS/uptime", undefined, undefined],
  ["a b/ü/日本/😀", undefined, undefined],
  ["", "empty", "empty"],
  ["/", "empty level", "empty level"],
  ["/a", "empty level", "empty level"],
  ["a/", "empty level", "empty level"],
  ["a//b", "empty level", "empty level"],
  ["+", "wildcard in a topic", undefined],
  ["#", "wildcard in a topic", undefined],
  ["a/+", "wildcard in a topic", undefined],
  ["a/#", "wildcard in a topic", undefined],
  ["+/+/#", "wildcard in a topic", undefined],
  ["$SYS/#", "wildcard in a topic", undefined],
  ["#/a", "wildcard in a topic", HASH_LAST],
  ["a/#/b", "wildcard in a topic", HASH_LAST],
  ["#/#", "wildcard in a topic", HASH_LAST],
  ["a+", "wildcard in a topic", WHOLE_LEVEL_PLUS],
  ["+a", "wildcard in a topic", WHOLE_LEVEL_PLUS],
  ["a/b+/c", "wildcard in a topic", WHOLE_LEVEL_PLUS],
  ["++", "wildcard in a topic", WHOLE_LEVEL_PLUS],
  ["a#", "wildcard in a topic", WHOLE_LEVEL_HASH],
  ["a/#b", "wildcard in a topic", WHOLE_LEVEL_HASH],
  ["a/+/", "wildcard in a topic", "empty level"],
  ["x".repeat(MAX_TOPIC_BYTES), undefined, undefined],
  ["x".repeat(MAX_TOPIC_BYTES + 1), TOO_LONG, TOO_LONG],
  ["é".repeat(400), undefined, undefined], // 800 bytes
  ["é".repeat(512), undefined, undefined], // 1024 bytes
  ["é".repeat(513), TOO_LONG, TOO_LONG], // 1026 bytes
  ["é".repeat(600), TOO_LONG, TOO_LONG], // 1200 bytes
  ["€".repeat(341), undefined, undefined], // 1023 bytes
  ["€".repeat(342), TOO_LONG, TOO_LONG], // 1026 bytes
  ["😀".repeat(256), undefined, undefined], // 1024 bytes
  ["😀".repeat(257), TOO_LONG, TOO_LONG], // 1028 bytes
  ["a/\u0000", "contains U+0000", "contains U+0000"],
  ["\u0000", "contains U+0000", "contains U+0000"],
  ["a/\ufffd/b", "invalid UTF-8", "invalid UTF-8"],
  // A lone surrogate has no UTF-8 form: it would reach the broker as U+FFFD.
  ["a/\ud800", "invalid UTF-8", "invalid UTF-8"],
  ["\udc00/b", "invalid UTF-8", "invalid UTF-8"],
  ["a\ud83d/b", "invalid UTF-8", "invalid UTF-8"],
  ["\ud83d\ud83d", "invalid UTF-8", "invalid UTF-8"],
];

Deno.test("topicProblem and patternProblem explain what is wrong", () => {
  for (const [text, asTopic, asPattern] of VALIDITY) {
    const label = JSON.stringify(
      text.length > 20 ? `${text.slice(0, 20)}… (${text.length})` : text,
    );
    assert.equal(topicProblem(text), asTopic, `topic ${label}`);
    assert.equal(patternProblem(text), asPattern, `pattern ${label}`);
  }
});

Deno.test("validateTopic and validatePattern throw TOPIC_INVALID with the reason", () => {
  for (const [text, asTopic, asPattern] of VALIDITY) {
    const checks: [(text: string) => void, string | undefined][] = [
      [validateTopic, asTopic],
      [validatePattern, asPattern],
    ];
    for (const [validate, problem] of checks) {
      if (problem === undefined) {
        assert.doesNotThrow(() => validate(text));
        continue;
      }
      assert.throws(() => validate(text), (error) => {
        assert.ok(error instanceof MbError);
        assert.equal(error.code, "TOPIC_INVALID");
        assert.ok(error.message.endsWith(`: ${problem}`), error.message);
        return true;
      });
    }
  }
});

Deno.test("validateTopic quotes a long topic shortened in its message", () => {
  assert.throws(() => validateTopic(`${"a".repeat(200)}/+`), (error) => {
    assert.ok(error instanceof MbError);
    assert.ok(error.message.length < 150, error.message);
    assert.ok(error.message.startsWith(`Invalid topic "${"a".repeat(80)}…"`), error.message);
    return true;
  });
});

/** [pattern, topic, matches]. */
const MATCHES: [string, string, boolean][] = [
  ["a/b", "a/b", true],
  ["a/b", "a/c", false],
  ["a/b", "a/b/c", false],
  ["a/b/c", "a/b", false],
  ["a", "ab", false],
  ["+", "a", true],
  ["+", "a/b", false],
  ["a/+", "a/b", true],
  ["a/+", "a", false],
  ["a/+", "a/b/c", false],
  ["+/b", "a/b", true],
  ["+/+", "a/b", true],
  ["a/+/c", "a/x/c", true],
  ["a/+/c", "a/x/d", false],
  ["#", "a", true],
  ["#", "a/b/c", true],
  ["a/#", "a", true],
  ["a/#", "a/b", true],
  ["a/#", "a/b/c/d", true],
  ["a/#", "b/a", false],
  ["a/#", "ab", false],
  ["a/b/#", "a", false],
  ["+/#", "a", true],
  ["+/#", "a/b/c", true],
  ["a/+/#", "a/b", true],
  ["a/+/#", "a", false],
  ["ü/日本/+", "ü/日本/😀", true],
  ["$SYS/uptime", "$SYS/uptime", true],
  ["+/uptime", "$SYS/uptime", false],
  ["#", "$SYS/uptime", false],
  ["+/#", "$SYS/uptime", false],
  ["+", "$SYS", false],
  ["$SYS/#", "$SYS/uptime", true],
  ["$SYS/#", "$SYS", true],
  ["$SYS/+", "$SYS/uptime", true],
  ["a/+", "a/$b", true],
  ["a/#", "a/$b/c", true],
];

Deno.test("matchTopic matches levels, '+', '#' and the '$' rule", () => {
  for (const [pattern, topic, expected] of MATCHES) {
    assert.equal(matchTopic(pattern, topic), expected, `${pattern} ~ ${topic}`);
  }
});

Deno.test("topicProblem accepts only topics that reach the broker unchanged", () => {
  // The wire carries UTF-8; the broker checks the decoded topic again.
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const units = [0x61, 0x2f, 0xe9, 0x20ac, 0xd83d, 0xde00, 0xd800, 0xdfff, 0xfffd, 0];
  const texts: string[] = [];
  for (const a of units) {
    for (const b of units) {
      for (const c of units) texts.push(String.fromCharCode(0x78, a, b, c));
    }
  }
  for (const text of texts) {
    const onTheWire = decoder.decode(encoder.encode(text));
    if (topicProblem(text) === undefined) {
      assert.equal(onTheWire, text, `topic ${JSON.stringify(text)}`);
      assert.equal(topicProblem(onTheWire), undefined, `topic ${JSON.stringify(text)}`);
    }
    if (patternProblem(text) === undefined) {
      assert.equal(onTheWire, text, `pattern ${JSON.stringify(text)}`);
    }
  }
});
