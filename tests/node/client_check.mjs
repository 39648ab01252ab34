// Runs under Node.js against a live broker, with the client bundled by
// `deno bundle` (tests/node_client_test.ts builds it and starts the broker).
// Usage: node client_check.mjs BUNDLE URL [CA_FILE]
// Prints one JSON line with what it observed; exits non-zero on failure.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [bundle, url, caFile] = process.argv.slice(2);
const { connect, MbError } = await import(pathToFileURL(bundle).href);
const caCerts = caFile ? [readFileSync(caFile, "utf8")] : undefined;
const timer = setTimeout(() => {
  console.error("client_check timed out");
  process.exit(3);
}, 15_000);

const a = await connect(url, { name: "node-a", caCerts });
const b = await connect(url, { name: "node-b", caCerts });
const topic = `node/${process.pid}`;

const sub = b.subscribe(`${topic}/#`);
b.subscribe(`${topic}/svc`, { callback: (msg) => void msg.respond(`re:${msg.text()}`) });
await b.flush();
await a.publish(`${topic}/x`, "hello from node", { headers: { runtime: "node" } });
await a.publish(`${topic}/y`, new Uint8Array([1, 2, 3]), { confirm: true });
const seen = [];
for await (const msg of sub) {
  seen.push({ topic: msg.topic, text: msg.text(), headers: msg.headers });
  if (seen.length === 2) break;
}
const reply = await a.request(`${topic}/svc`, "q", { timeoutMs: 2000 });
let noResponders = "";
try {
  await a.request(`${topic}/nobody`, "q");
} catch (error) {
  noResponders = error instanceof MbError ? error.code : String(error);
}
await a.close();
await b.drain();
clearTimeout(timer);
console.log(JSON.stringify({
  version: process.versions.node,
  seen,
  reply: reply.text(),
  noResponders,
  closed: (await a.closed) === undefined,
}));
