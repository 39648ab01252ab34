// Copyright mb authors. MIT license.
//
// Publishes a temperature reading every second to `sensors/<room>/temp`, as
// JSON with headers. Needs a broker at $MB_SERVER or mb://127.0.0.1:4150
// (start one with `deno task start`). Ctrl-C stops it.
//
//   deno run -A examples/publisher.ts
//   deno run -A examples/publisher.ts --room office --interval 200 --count 10
//
// Watch the readings with `deno run -A examples/subscriber.ts` or
// `deno task mb sub 'sensors/#'`.

import { parseArgs } from "node:util";
import { connect } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    room: { type: "string", default: "kitchen" },
    // Stop after this many readings (default: run until Ctrl-C).
    count: { type: "string" },
    interval: { type: "string", default: "1000" },
  },
});
const count = values.count === undefined ? Infinity : Number(values.count);
const intervalMs = Number(values.interval);
const topic = `sensors/${values.room}/temp`;

const server = Deno.env.get("MB_SERVER") ?? "mb://127.0.0.1:4150";
await using mb = await connect(server, { name: "example-publisher" });
console.log(`Publishing to ${topic} on ${mb.server}`);

let celsius = 20 + Math.random() * 4;
for (let i = 1; i <= count; i++) {
  celsius += Math.random() - 0.5;
  const reading = { celsius: Math.round(celsius * 10) / 10, at: new Date().toISOString() };
  // publish() returns at once; awaiting it only waits when the outbound
  // buffer is full, which keeps a fast loop from outrunning the socket.
  await mb.publish(topic, JSON.stringify(reading), {
    headers: { "content-type": "application/json", unit: "celsius", room: values.room },
  });
  console.log(`${topic} ${JSON.stringify(reading)}`);
  if (i < count) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
// A round trip: everything published above has reached the broker.
await mb.flush();
