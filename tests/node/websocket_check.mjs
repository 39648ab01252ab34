// Runs under Node.js against a live broker's web listener, with the client
// bundled by `deno bundle` (tests/websocket_client_test.ts builds it and
// starts the broker). Node.js 22 and newer have a global WebSocket: publish,
// subscribe and request over ws:. Node.js 20 has none: connect() must fail
// with UNSUPPORTED_TRANSPORT.
// Usage: node websocket_check.mjs BUNDLE WS_URL
// Prints one JSON line with what it observed; exits non-zero on failure.
import { pathToFileURL } from "node:url";

const [bundle, url] = process.argv.slice(2);
const { connect, MbError } = await import(pathToFileURL(bundle).href);
const timer = setTimeout(() => {
  console.error("websocket_check timed out");
  process.exit(3);
}, 15_000);

let a;
try {
  a = await connect(url, { name: "node-ws" });
} catch (error) {
  if (!(error instanceof MbError)) throw error;
  clearTimeout(timer);
  console.log(JSON.stringify({
    version: process.versions.node,
    error: { code: error.code, message: error.message },
  }));
  process.exit(0);
}
const topic = `node-ws/${process.pid}`;
const sub = a.subscribe(`${topic}/#`, { max: 1 });
a.subscribe(`${topic}-svc`, { callback: (msg) => void msg.respond(`re:${msg.text()}`) });
await a.flush();
await a.publish(`${topic}/x`, "hello over ws from node");
const seen = [];
for await (const msg of sub) seen.push(msg.text());
const reply = await a.request(`${topic}-svc`, "q", { timeoutMs: 2000 });
await a.close();
clearTimeout(timer);
console.log(JSON.stringify({ version: process.versions.node, seen, reply: reply.text() }));
