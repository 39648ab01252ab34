// Copyright mb authors. MIT license.

import { TopicTrie } from "./topic_trie.ts";

/** Whoever receives messages for a subscription: a session, a gateway. */
export interface Subscriber {
  /**
   * Takes one message; called synchronously by the router, so it must queue
   * the bytes and return without awaiting.
   *
   * @param sid The subscription id on the subscriber's side.
   * @param message The encoded message section (topic, reply-to, headers,
   * payload), shared by every delivery of this publish: valid only during
   * the call, copy it to keep it.
   * @param qos The quality of service the publisher asked for: 0 for core
   * publishes, 1 or 2 from MQTT publishers (and 1 for a confirmed native
   * publish). Only MQTT subscribers use it.
   */
  deliver(sid: number, message: Uint8Array, qos: number): void;
}

/** One subscription as the router keeps it. */
export interface Route {
  /** The subscriber's id for it. */
  readonly sid: number;
  /** The pattern. */
  readonly pattern: string;
  /** The queue group, or `""` for none. */
  readonly queue: string;
  /** Who gets the messages. */
  readonly subscriber: Subscriber;
}

interface Match {
  /** Routes without a queue group: each gets every message. */
  all: Route[];
  /** Routes grouped by queue name: one member of each gets a message. */
  groups: Route[][];
}

const EMPTY_MATCH: Match = { all: [], groups: [] };
/**
 * The match cache holds at most this many route references in total (not
 * topics): a match with many routes (10,000 members of one queue group, say)
 * costs its size, so no pattern of subscriptions and topics can make the
 * cache large.
 */
const MAX_CACHED_ROUTES = 262144;
/** A match with more routes than this is computed each time, not cached. */
const MAX_ROUTES_PER_CACHED_MATCH = 4096;

/** Counters of a {@linkcode Router}. */
export interface RouterStats {
  /** Subscriptions held. */
  subscriptions: number;
  /** Messages published. */
  messagesIn: number;
  /** Deliveries routed (a subscriber may still drop one). */
  messagesOut: number;
}

/**
 * The routing core: subscriptions in a topic trie, queue groups, and a cache
 * of match results per topic that any subscribe or unsubscribe clears.
 * Delivery is a plain synchronous loop: no promise per message.
 *
 * @example
 * ```ts
 * import { Router } from "./router.ts";
 * import assert from "node:assert/strict";
 *
 * const router = new Router();
 * const got: number[] = [];
 * const subscriber = { deliver: (sid: number) => void got.push(sid) };
 * router.add({ sid: 1, pattern: "a/+", queue: "", subscriber });
 * router.add({ sid: 2, pattern: "a/#", queue: "w", subscriber });
 * router.add({ sid: 3, pattern: "a/b", queue: "w", subscriber });
 * assert.equal(router.publish("a/b", new Uint8Array()), 2);
 * assert.equal(got[0], 1);
 * ```
 */
export class Router {
  #trie = new TopicTrie<Route>();
  #cache = new Map<string, Match>();
  #cachedRoutes = 0;
  #scratch: Route[] = [];
  #messagesIn = 0;
  #messagesOut = 0;

  /**
   * Adds a route.
   *
   * @param route The subscription.
   */
  add(route: Route): void {
    this.#trie.add(route.pattern, route);
    this.#clearCache();
  }

  /**
   * Removes a route.
   *
   * @param route The subscription given to {@linkcode Router.add}.
   * @returns `true` if it was there.
   */
  remove(route: Route): boolean {
    const removed = this.#trie.remove(route.pattern, route);
    if (removed) this.#clearCache();
    return removed;
  }

  /**
   * Delivers a message to every matching route, and to one member of each
   * matching queue group.
   *
   * @param topic The topic, already validated.
   * @param message The encoded message section.
   * @param qos The publisher's quality of service (see {@linkcode Subscriber.deliver}).
   * @returns The number of deliveries.
   */
  publish(topic: string, message: Uint8Array, qos = 0): number {
    this.#messagesIn++;
    const count = this.route(topic, message, qos);
    this.#messagesOut += count;
    return count;
  }

  /**
   * Delivers like {@linkcode Router.publish} without counting the message
   * in the stats: for the broker's own messages (`$SYS/...`).
   *
   * @param topic The topic, already validated.
   * @param message The encoded message section.
   * @param qos The quality of service.
   * @returns The number of deliveries.
   */
  route(topic: string, message: Uint8Array, qos = 0): number {
    const match = this.#match(topic);
    const all = match.all;
    for (let i = 0; i < all.length; i++) {
      const route = all[i];
      route.subscriber.deliver(route.sid, message, qos);
    }
    const groups = match.groups;
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i];
      const route = group[(Math.random() * group.length) | 0];
      route.subscriber.deliver(route.sid, message, qos);
    }
    return all.length + groups.length;
  }

  /**
   * Tells whether any route matches `topic`.
   *
   * @param topic The topic.
   * @returns `true` when a publish would be delivered.
   */
  hasRoutes(topic: string): boolean {
    const match = this.#match(topic);
    return match.all.length > 0 || match.groups.length > 0;
  }

  /** Current counters. */
  stats(): RouterStats {
    return {
      subscriptions: this.#trie.size,
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
    };
  }

  #match(topic: string): Match {
    const cached = this.#cache.get(topic);
    if (cached !== undefined) return cached;
    const routes = this.#scratch;
    routes.length = 0;
    this.#trie.match(topic, routes);
    let match = EMPTY_MATCH;
    if (routes.length > 0) {
      match = { all: [], groups: [] };
      let byQueue: Map<string, Route[]> | undefined;
      for (let i = 0; i < routes.length; i++) {
        const route = routes[i];
        if (route.queue === "") {
          match.all.push(route);
          continue;
        }
        byQueue ??= new Map();
        let group = byQueue.get(route.queue);
        if (group === undefined) {
          group = [];
          byQueue.set(route.queue, group);
          match.groups.push(group);
        }
        group.push(route);
      }
      routes.length = 0;
    }
    const size = match.all.length + matchedInGroups(match) + 1;
    if (size <= MAX_ROUTES_PER_CACHED_MATCH) {
      if (this.#cachedRoutes + size > MAX_CACHED_ROUTES) this.#clearCache();
      this.#cache.set(topic, match);
      this.#cachedRoutes += size;
    }
    return match;
  }

  #clearCache(): void {
    this.#cache.clear();
    this.#cachedRoutes = 0;
  }
}

function matchedInGroups(match: Match): number {
  let count = 0;
  for (let i = 0; i < match.groups.length; i++) count += match.groups[i].length;
  return count;
}
