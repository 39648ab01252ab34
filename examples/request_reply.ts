// Copyright mb authors. MIT license.
//
// Request/reply: a service answers on `time/now` with the current time, and
// a requester asks it. Needs a broker at $MB_SERVER or mb://127.0.0.1:4150.
//
//   deno run -A examples/request_reply.ts          # both sides in one process: 3 requests, then exit
//   deno run -A examples/request_reply.ts serve    # only the service (Ctrl-C, or --count N requests)
//   deno run -A examples/request_reply.ts ask      # only the requester: one request
//
// Try `deno task mb req time/now` against the service too.

import { parseArgs } from "node:util";
import { type Client, connect, MbError } from "../mod.ts";

const TOPIC = "time/now";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { count: { type: "string" } },
});
const mode = positionals[0] ?? "both";

const server = Deno.env.get("MB_SERVER") ?? "mb://127.0.0.1:4150";
await using mb = await connect(server, { name: `time-${mode}` });

/** Answers requests on `time/now`; resolves after `max` of them, if given. */
async function serve(client: Client, max?: number): Promise<void> {
  const requests = client.subscribe(TOPIC, { max });
  await client.flush(); // the broker has the subscription: requests can come
  console.log(`Answering on ${TOPIC}`);
  for await (const request of requests) {
    const zone = request.text() || "UTC";
    let now: string;
    try {
      now = new Date().toLocaleString("en-GB", { timeZone: zone });
    } catch {
      now = `unknown time zone ${JSON.stringify(zone)}`;
    }
    await request.respond(now);
  }
}

/** Sends one request and prints the reply. */
async function ask(client: Client, zone: string): Promise<void> {
  const reply = await client.request(TOPIC, zone, { timeoutMs: 2000 });
  console.log(`${TOPIC} (${zone}) -> ${reply.text()}`);
}

try {
  switch (mode) {
    case "serve":
      await serve(mb, values.count === undefined ? undefined : Number(values.count));
      break;
    case "ask":
      await ask(mb, positionals[1] ?? "UTC");
      break;
    case "both": {
      const service = serve(mb, 3);
      await mb.flush(); // let the service subscribe first
      for (const zone of ["UTC", "Europe/Paris", "Asia/Tokyo"]) await ask(mb, zone);
      await service;
      break;
    }
    default:
      console.error(`Unknown mode "${mode}": use serve, ask, or nothing for both`);
      Deno.exitCode = 2;
  }
} catch (error) {
  if (!(error instanceof MbError)) throw error;
  // NO_RESPONDERS: nobody serves the topic; TIMEOUT: nobody answered in time.
  console.error(`${error.code}: ${error.message}`);
  Deno.exitCode = 1;
}
