// Copyright mb authors. MIT license.

/** One level of the trie. */
class TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined;
  plus: TrieNode<T> | undefined;
  hash: TrieNode<T> | undefined;
  values: Set<T> | undefined;

  isEmpty(): boolean {
    return (this.values === undefined || this.values.size === 0) &&
      (this.children === undefined || this.children.size === 0) &&
      this.plus === undefined && this.hash === undefined;
  }
}

/**
 * Patterns (`+` one level, `#` the rest) mapped to values, matched against
 * topics level by level. The router keeps subscriptions in it; patterns are
 * assumed valid (see `patternProblem` in `protocol/topic.ts`).
 *
 * @example
 * ```ts
 * import { TopicTrie } from "./topic_trie.ts";
 * import assert from "node:assert/strict";
 *
 * const trie = new TopicTrie<string>();
 * trie.add("sensors/+/temp", "a");
 * trie.add("sensors/#", "b");
 * trie.add("$SYS/#", "c");
 * const out: string[] = [];
 * trie.match("sensors/kitchen/temp", out);
 * assert.deepEqual(out.sort(), ["a", "b"]);
 * ```
 */
export class TopicTrie<T> {
  #root = new TrieNode<T>();
  #size = 0;

  /** Number of (pattern, value) entries. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds `value` under `pattern`.
   *
   * @param pattern A valid pattern.
   * @param value The value to return for matching topics.
   */
  add(pattern: string, value: T): void {
    let node = this.#root;
    const levels = pattern.split("/");
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i];
      if (level === "+") node = node.plus ??= new TrieNode();
      else if (level === "#") node = node.hash ??= new TrieNode();
      else {
        const children = node.children ??= new Map();
        let child = children.get(level);
        if (child === undefined) {
          child = new TrieNode();
          children.set(level, child);
        }
        node = child;
      }
    }
    const values = node.values ??= new Set();
    if (!values.has(value)) {
      values.add(value);
      this.#size++;
    }
  }

  /**
   * Removes `value` from `pattern`, pruning emptied nodes.
   *
   * @param pattern The pattern it was added under.
   * @param value The value.
   * @returns `true` if it was there.
   */
  remove(pattern: string, value: T): boolean {
    const levels = pattern.split("/");
    const path: TrieNode<T>[] = [this.#root];
    let node: TrieNode<T> | undefined = this.#root;
    for (let i = 0; i < levels.length && node !== undefined; i++) {
      const level = levels[i];
      node = level === "+" ? node.plus : level === "#" ? node.hash : node.children?.get(level);
      if (node !== undefined) path.push(node);
    }
    if (node === undefined || node.values === undefined || !node.values.delete(value)) {
      return false;
    }
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const child = path[i];
      if (!child.isEmpty()) break;
      const parent = path[i - 1];
      const level = levels[i - 1];
      if (level === "+") parent.plus = undefined;
      else if (level === "#") parent.hash = undefined;
      else parent.children!.delete(level);
    }
    return true;
  }

  /**
   * Appends to `out` every value whose pattern matches `topic`. A topic
   * starting with `$` is not matched by a leading `+` or `#`.
   *
   * @param topic A valid topic.
   * @param out Where matches go.
   */
  match(topic: string, out: T[]): void {
    const levels = topic.split("/");
    matchNode(this.#root, levels, 0, out, topic.charCodeAt(0) === 0x24);
  }
}

function matchNode<T>(
  node: TrieNode<T>,
  levels: string[],
  index: number,
  out: T[],
  system: boolean,
): void {
  // `a/#` matches `a` too: the parent level of a trailing `#`.
  if (node.hash !== undefined && !system) pushAll(node.hash.values, out);
  if (index === levels.length) {
    pushAll(node.values, out);
    return;
  }
  const child = node.children?.get(levels[index]);
  if (child !== undefined) matchNode(child, levels, index + 1, out, false);
  if (node.plus !== undefined && !system) {
    matchNode(node.plus, levels, index + 1, out, false);
  }
}

function pushAll<T>(values: Set<T> | undefined, out: T[]): void {
  if (values === undefined) return;
  for (const value of values) out.push(value);
}
