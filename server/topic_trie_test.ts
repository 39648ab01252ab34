// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { matchTopic } from "../protocol/topic.ts";
import { TopicTrie } from "./topic_trie.ts";

function matches<T>(trie: TopicTrie<T>, topic: string): T[] {
  const out: T[] = [];
  trie.match(topic, out);
  return out;
}

function sorted(values: string[]): string[] {
  return [...values].sort();
}

const PATTERNS = [
  "a",
  "a/b",
  "a/b/c",
  "a/+",
  "a/+/c",
  "a/#",
  "a/b/#",
  "+",
  "+/b",
  "+/+",
  "+/#",
  "#",
  "$SYS/#",
  "$SYS/+",
  "$SYS/uptime",
  "ü/日本/+",
];

const TOPICS = [
  "a",
  "b",
  "a/b",
  "a/c",
  "a/b/c",
  "a/x/c",
  "a/b/c/d",
  "x/b",
  "$SYS",
  "$SYS/uptime",
  "$SYS/a/b",
  "a/$b",
  "ü/日本/😀",
];

Deno.test("TopicTrie matches like matchTopic for every pattern and topic", () => {
  const trie = new TopicTrie<string>();
  for (const pattern of PATTERNS) trie.add(pattern, pattern);
  assert.equal(trie.size, PATTERNS.length);
  for (const topic of TOPICS) {
    const expected = PATTERNS.filter((pattern) => matchTopic(pattern, topic));
    const got = matches(trie, topic);
    assert.equal(new Set(got).size, got.length, `no duplicates for ${topic}`);
    assert.deepStrictEqual(sorted(got), sorted(expected), `topic ${topic}`);
  }
});

Deno.test("TopicTrie does not match a '$' topic with a leading wildcard", () => {
  const trie = new TopicTrie<string>();
  for (const pattern of ["#", "+/uptime", "+/#", "+", "$SYS/#", "$SYS/+"]) {
    trie.add(pattern, pattern);
  }
  assert.deepStrictEqual(sorted(matches(trie, "$SYS/uptime")), ["$SYS/#", "$SYS/+"]);
  assert.deepStrictEqual(matches(trie, "$SYS"), ["$SYS/#"]);
  assert.deepStrictEqual(sorted(matches(trie, "x/uptime")), ["#", "+/#", "+/uptime"]);
});

Deno.test("TopicTrie matches 'a/#' on the parent level 'a'", () => {
  const trie = new TopicTrie<number>();
  trie.add("a/#", 1);
  assert.deepStrictEqual(matches(trie, "a"), [1]);
  assert.deepStrictEqual(matches(trie, "a/b/c"), [1]);
  assert.deepStrictEqual(matches(trie, "b"), []);
});

Deno.test("TopicTrie ignores a duplicate add of the same value and pattern", () => {
  const trie = new TopicTrie<string>();
  trie.add("a/+", "x");
  trie.add("a/+", "x");
  assert.equal(trie.size, 1);
  assert.deepStrictEqual(matches(trie, "a/b"), ["x"]);
  trie.add("a/+", "y");
  trie.add("a/#", "x");
  assert.equal(trie.size, 3);
  assert.deepStrictEqual(sorted(matches(trie, "a/b")), ["x", "x", "y"]);
  assert.equal(trie.remove("a/+", "x"), true);
  assert.equal(trie.remove("a/+", "x"), false);
  assert.equal(trie.size, 2);
});

Deno.test("TopicTrie remove stops matching and prunes back to empty", () => {
  const trie = new TopicTrie<string>();
  for (const pattern of PATTERNS) {
    trie.add(pattern, pattern);
    trie.add(pattern, `${pattern}!`);
  }
  assert.equal(trie.size, PATTERNS.length * 2);
  // Remove in an order different from insertion, checking matches as we go.
  const entries = PATTERNS.flatMap((p) => [[p, p], [p, `${p}!`]]).reverse();
  const remaining = new Set(entries.map(([, value]) => value));
  for (const [pattern, value] of entries) {
    assert.equal(trie.remove(pattern, value), true, `remove ${value}`);
    remaining.delete(value);
    for (const topic of TOPICS) {
      const expected = [...remaining].filter((v) => matchTopic(v.replace(/!$/, ""), topic));
      assert.deepStrictEqual(sorted(matches(trie, topic)), sorted(expected), `${topic}`);
    }
  }
  assert.equal(trie.size, 0);
  // Pruned: a fresh add after everything was removed works as on a new trie.
  trie.add("a/b", "again");
  assert.deepStrictEqual(matches(trie, "a/b"), ["again"]);
  assert.equal(trie.remove("a/b", "again"), true);
  assert.equal(trie.size, 0);
});

Deno.test("TopicTrie remove of a missing entry returns false and keeps the rest", () => {
  const trie = new TopicTrie<string>();
  trie.add("a/b", "x");
  assert.equal(trie.remove("a/b", "y"), false);
  assert.equal(trie.remove("a/c", "x"), false);
  assert.equal(trie.remove("a/b/c", "x"), false);
  assert.equal(trie.remove("a", "x"), false);
  assert.equal(trie.remove("a/+", "x"), false);
  assert.equal(trie.remove("#", "x"), false);
  assert.equal(trie.size, 1);
  assert.deepStrictEqual(matches(trie, "a/b"), ["x"]);
});

Deno.test("TopicTrie remove keeps a node that still has children or wildcards", () => {
  const trie = new TopicTrie<string>();
  trie.add("a", "parent");
  trie.add("a/b", "child");
  trie.add("a/+", "plus");
  trie.add("a/#", "hash");
  assert.equal(trie.remove("a", "parent"), true);
  assert.deepStrictEqual(sorted(matches(trie, "a/b")), ["child", "hash", "plus"]);
  assert.deepStrictEqual(matches(trie, "a"), ["hash"]);
  assert.equal(trie.remove("a/b", "child"), true);
  assert.deepStrictEqual(sorted(matches(trie, "a/b")), ["hash", "plus"]);
  assert.equal(trie.remove("a/+", "plus"), true);
  assert.equal(trie.remove("a/#", "hash"), true);
  assert.deepStrictEqual(matches(trie, "a/b"), []);
  assert.equal(trie.size, 0);
});
