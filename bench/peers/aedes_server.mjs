// Copyright mb authors. MIT license.
// Starts the Aedes MQTT broker (Node.js) for the mb benchmark:
//   node bench/peers/aedes_server.mjs --host 127.0.0.1 --port 1883
// Prints "listening mqtt://HOST:PORT" on stdout once it accepts connections.
// Memory persistence only (Aedes' default; nothing is written to disk).
// SIGINT and SIGTERM close the broker and exit 0.

import net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } },
});
if (values.port === undefined) {
  console.error("aedes_server: --port is required");
  process.exit(2);
}

// Loaded by path so that linting and type checking the repository never need
// bench/peers/node_modules (it is installed by the benchmark on first use).
const { Aedes } = await import(new URL("./node_modules/aedes/aedes.js", import.meta.url).href);
const broker = await Aedes.createBroker();
const server = net.createServer(broker.handle);

server.listen(Number(values.port), values.host, () => {
  console.log(`listening mqtt://${values.host}:${values.port}`);
});

function stop() {
  server.close();
  broker.close(() => process.exit(0));
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
