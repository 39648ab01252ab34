// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { type Route, Router, type Subscriber } from "./router.ts";

/** A subscriber that records `[sid, message number]` for every delivery. */
class Recorder implements Subscriber {
  deliveries: [number, number][] = [];

  deliver(sid: number, message: Uint8Array): void {
    this.deliveries.push([sid, (message[0] << 8) | message[1]]);
  }
}

function route(subscriber: Subscriber, sid: number, pattern: string, queue = ""): Route {
  return { sid, pattern, queue, subscriber };
}

/** A message section that carries its number in its first two bytes. */
function message(n: number): Uint8Array {
  return new Uint8Array([n >>> 8, n & 0xff]);
}

Deno.test("Router delivers to every plain route that matches", () => {
  const router = new Router();
  const a = new Recorder();
  const b = new Recorder();
  router.add(route(a, 1, "x/y"));
  router.add(route(a, 2, "x/+"));
  router.add(route(b, 1, "#"));
  router.add(route(b, 2, "z"));
  assert.equal(router.publish("x/y", message(7)), 3);
  assert.deepStrictEqual(a.deliveries.sort(), [[1, 7], [2, 7]]);
  assert.deepStrictEqual(b.deliveries, [[1, 7]]);
  assert.equal(router.publish("nothing/here/at/all", message(8)), 1);
  assert.equal(router.publish("$SYS/x", message(9)), 0);
});

Deno.test("Router passes the same message bytes to every delivery", () => {
  const router = new Router();
  const seen: Uint8Array[] = [];
  const subscriber = { deliver: (_sid: number, bytes: Uint8Array) => void seen.push(bytes) };
  router.add(route(subscriber, 1, "t"));
  router.add(route(subscriber, 2, "#"));
  router.add(route(subscriber, 3, "t", "q"));
  const bytes = message(1);
  assert.equal(router.publish("t", bytes), 3);
  assert.equal(seen.length, 3);
  for (const got of seen) assert.equal(got, bytes);
});

Deno.test("Router gives each message to exactly one member of each queue group", () => {
  const router = new Router();
  const members = [new Recorder(), new Recorder(), new Recorder()];
  const other = [new Recorder(), new Recorder()];
  const plain = new Recorder();
  members.forEach((m, i) => router.add(route(m, i + 1, "jobs/+", "workers")));
  other.forEach((m, i) => router.add(route(m, i + 1, "jobs/#", "audit")));
  router.add(route(plain, 1, "jobs/run"));
  const total = 1000;
  for (let i = 0; i < total; i++) {
    assert.equal(router.publish("jobs/run", message(i)), 3);
  }
  const counts = members.map((m) => m.deliveries.length);
  assert.equal(counts.reduce((a, b) => a + b, 0), total, `workers ${counts}`);
  for (const count of counts) assert.ok(count > 0, `every worker gets some: ${counts}`);
  const otherCounts = other.map((m) => m.deliveries.length);
  assert.equal(otherCounts.reduce((a, b) => a + b, 0), total, `audit ${otherCounts}`);
  assert.equal(plain.deliveries.length, total);
  // Every message number once across the group, none twice.
  const all = Array.from({ length: total }, (_, i) => i);
  const numbers = (group: Recorder[]) =>
    group.flatMap((m) => m.deliveries.map(([, n]) => n)).sort((x, y) => x - y);
  assert.deepStrictEqual(numbers(members), all);
  assert.deepStrictEqual(numbers(other), all);
});

Deno.test("Router counts one group for the same queue name on different patterns", () => {
  const router = new Router();
  const a = new Recorder();
  const b = new Recorder();
  const c = new Recorder();
  router.add(route(a, 1, "orders/new", "billing"));
  router.add(route(b, 1, "orders/+", "billing"));
  router.add(route(c, 1, "#", "billing"));
  const total = 1000;
  for (let i = 0; i < total; i++) assert.equal(router.publish("orders/new", message(i)), 1);
  const counts = [a, b, c].map((r) => r.deliveries.length);
  assert.equal(counts.reduce((x, y) => x + y, 0), total);
  for (const count of counts) assert.ok(count > 0, `every member gets some: ${counts}`);
  // Only the members whose pattern matches the topic share its messages.
  for (let i = 0; i < 100; i++) assert.equal(router.publish("orders/old", message(i)), 1);
  assert.equal(a.deliveries.length, counts[0]);
  assert.equal(b.deliveries.length + c.deliveries.length, counts[1] + counts[2] + 100);
  assert.equal(router.publish("other", message(0)), 1);
  assert.deepStrictEqual(c.deliveries.at(-1), [1, 0]);
});

Deno.test("Router sees a route added after a publish to the same topic", () => {
  const router = new Router();
  const a = new Recorder();
  const b = new Recorder();
  assert.equal(router.publish("t/1", message(1)), 0);
  router.add(route(a, 1, "t/+"));
  assert.equal(router.publish("t/1", message(2)), 1);
  router.add(route(b, 1, "t/1"));
  assert.equal(router.publish("t/1", message(3)), 2);
  router.add(route(b, 2, "t/1", "q"));
  assert.equal(router.publish("t/1", message(4)), 3);
  assert.deepStrictEqual(a.deliveries, [[1, 2], [1, 3], [1, 4]]);
  assert.deepStrictEqual(b.deliveries, [[1, 3], [1, 4], [2, 4]]);
});

Deno.test("Router stops delivering to a removed route", () => {
  const router = new Router();
  const a = new Recorder();
  const first = route(a, 1, "t/#");
  const second = route(a, 2, "t/x", "q");
  router.add(first);
  router.add(second);
  assert.equal(router.publish("t/x", message(1)), 2);
  assert.equal(router.remove(first), true);
  assert.equal(router.publish("t/x", message(2)), 1);
  assert.equal(router.remove(first), false);
  assert.equal(router.remove(second), true);
  assert.equal(router.publish("t/x", message(3)), 0);
  assert.deepStrictEqual(a.deliveries, [[1, 1], [2, 1], [2, 2]]);
  // An equal but different route object is a different route.
  router.add(first);
  assert.equal(router.remove({ ...first }), false);
  assert.equal(router.publish("t/x", message(4)), 1);
});

Deno.test("Router lets a subscriber remove its route while being delivered to", () => {
  const router = new Router();
  const got: number[] = [];
  const routes: Route[] = [];
  const subscriber: Subscriber = {
    deliver(sid) {
      got.push(sid);
      router.remove(routes[sid - 1]);
    },
  };
  for (let sid = 1; sid <= 3; sid++) {
    routes.push(route(subscriber, sid, "t"));
    router.add(routes[sid - 1]);
  }
  assert.equal(router.publish("t", message(0)), 3);
  assert.deepStrictEqual(got.sort(), [1, 2, 3]);
  assert.equal(router.publish("t", message(0)), 0);
  assert.equal(router.stats().subscriptions, 0);
});

Deno.test("Router hasRoutes tells whether a publish would be delivered", () => {
  const router = new Router();
  const a = new Recorder();
  assert.equal(router.hasRoutes("a/b"), false);
  const plain = route(a, 1, "a/+");
  router.add(plain);
  assert.equal(router.hasRoutes("a/b"), true);
  assert.equal(router.hasRoutes("a"), false);
  assert.equal(router.hasRoutes("$SYS/x"), false);
  router.remove(plain);
  assert.equal(router.hasRoutes("a/b"), false);
  router.add(route(a, 2, "a/#", "q"));
  assert.equal(router.hasRoutes("a"), true);
  assert.equal(router.stats().messagesIn, 0, "hasRoutes publishes nothing");
  assert.deepStrictEqual(a.deliveries, []);
});

Deno.test("Router stats count subscriptions, publishes and deliveries", () => {
  const router = new Router();
  const a = new Recorder();
  assert.deepStrictEqual(router.stats(), { subscriptions: 0, messagesIn: 0, messagesOut: 0 });
  const r1 = route(a, 1, "s/+");
  router.add(r1);
  router.add(route(a, 2, "s/#"));
  router.add(route(a, 3, "s/x", "q"));
  router.add(route(a, 4, "s/x", "q"));
  router.add(r1); // a duplicate add is one subscription
  router.publish("s/x", message(0)); // 2 plain + 1 group
  router.publish("s/y", message(0)); // 2 plain
  router.publish("none", message(0)); // 0
  assert.deepStrictEqual(router.stats(), { subscriptions: 4, messagesIn: 3, messagesOut: 5 });
  router.remove(r1);
  assert.equal(router.stats().subscriptions, 3);
  assert.equal(a.deliveries.length, 5);
});

Deno.test("Router's match cache stays small when one match holds thousands of routes", () => {
  const router = new Router();
  const subscriber = { deliver() {} };
  for (let sid = 1; sid <= 5000; sid++) {
    router.add({ sid, pattern: "#", queue: "q", subscriber });
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = Deno.memoryUsage().heapUsed;
  const message = new Uint8Array(1);
  for (let i = 0; i < 2000; i++) assert.equal(router.publish(`t${i}`, message), 1);
  gc?.();
  const grown = Deno.memoryUsage().heapUsed - before;
  // Caching each of those matches would hold 10 million route references.
  assert.ok(grown < 16 * 1024 * 1024, `heap grew by ${grown} bytes`);
});
