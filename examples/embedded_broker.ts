// Copyright mb authors. MIT license.
//
// Runs an mb broker inside this program, on a free port, connects a client
// to it, sends a message round trip, and stops: no external broker needed.
//
//   deno run -A examples/embedded_broker.ts
//
// The same `Broker` is what `deno task start` runs; embed it to give a
// program (or a test) its own broker.

import { connect } from "../mod.ts";
import { Broker } from "../server/mod.ts";

// `await using` stops the broker and closes the client when the program
// ends, in reverse order: the client first.
await using broker = new Broker({ hostname: "127.0.0.1", port: 0, httpPort: 0, mqttPort: 0 });
await broker.start();
const url = broker.addresses[0].url;
console.log(`Broker listening on ${url}`);

await using mb = await connect(url, { name: "embedded-example" });
const sub = mb.subscribe("greetings/+", { max: 1 });
await mb.publish("greetings/world", "hello from an embedded broker", {
  headers: { from: "embedded_broker.ts" },
});
for await (const message of sub) {
  console.log(`Received on ${message.topic}: ${message.text()} (from ${message.headers.from})`);
}

const stats = broker.stats();
console.log(`Broker routed ${stats.messagesIn} message(s) to ${stats.messagesOut} subscriber(s)`);
