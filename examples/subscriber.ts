// Copyright mb authors. MIT license.
//
// Subscribes to `sensors/#` (or the pattern given) and prints every message.
// Needs a broker at $MB_SERVER or mb://127.0.0.1:4150. Ctrl-C stops it.
//
//   deno run -A examples/subscriber.ts
//   deno run -A examples/subscriber.ts 'sensors/+/temp' --count 5
//
// `+` matches one topic level, `#` all the remaining ones. Feed it with
// `deno run -A examples/publisher.ts`.

import { parseArgs } from "node:util";
import { connect } from "../mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    // Exit after this many messages (default: run until Ctrl-C).
    count: { type: "string" },
  },
});
const pattern = positionals[0] ?? "sensors/#";
const max = values.count === undefined ? undefined : Number(values.count);

const server = Deno.env.get("MB_SERVER") ?? "mb://127.0.0.1:4150";
await using mb = await connect(server, { name: "example-subscriber" });
const sub = mb.subscribe(pattern, { max });
// A round trip: once it returns, the broker has applied the subscription.
await mb.flush();
console.log(`Listening on ${pattern} at ${mb.server}`);

for await (const message of sub) {
  const body = message.headers["content-type"] === "application/json"
    ? message.json<{ celsius?: number }>()
    : message.text();
  const unit = message.headers.unit === undefined ? "" : ` [${message.headers.unit}]`;
  console.log(`${message.topic}${unit} ${JSON.stringify(body)}`);
}
