// Runs MQTT.js (bench/peers/node_modules/mqtt) under Node.js against a live
// mb broker; tests/mqtt_node_test.ts starts the broker and reads the JSON
// lines this prints. Usage: node mqtt_check.mjs SCENARIO JSON_ARGS
//   subscribe  {url, clientId, topic, qos}         persistent session, subscribe, leave
//   receive    {url, clientId, count}               resume the session, take `count` messages
//   publish    {url, clientId, topic, qos, count, clean, reconnectPeriod}
//                                                   publish and wait for every ack
//   roundtrip  {url, topic}                          subscribe and publish to itself
import { createRequire } from "node:module";

const require = createRequire(new URL("../../bench/peers/", import.meta.url));
const mqtt = require("mqtt");
const [scenario, json] = process.argv.slice(2);
const args = JSON.parse(json);
const out = (value) => console.log(JSON.stringify(value));
const timer = setTimeout(() => {
  console.error(`mqtt_check ${scenario} timed out`);
  process.exit(3);
}, args.timeoutMs ?? 20_000);

function connect(options) {
  const client = mqtt.connect(args.url, { protocolVersion: 4, ...options });
  client.on("error", (error) => console.error(`mqtt error: ${error.message}`));
  return client;
}

function once(client, event) {
  return new Promise((resolve) => client.once(event, resolve));
}

if (scenario === "subscribe") {
  const client = connect({ clientId: args.clientId, clean: false, reconnectPeriod: 0 });
  const connack = await once(client, "connect");
  await client.subscribeAsync(args.topic, { qos: args.qos });
  out({ sessionPresent: connack.sessionPresent });
  await client.endAsync();
} else if (scenario === "receive") {
  const client = connect({ clientId: args.clientId, clean: false, reconnectPeriod: 0 });
  const messages = [];
  let sessionPresent;
  const done = new Promise((resolve) => {
    client.on("message", (topic, payload, packet) => {
      messages.push({ topic, text: payload.toString(), qos: packet.qos, dup: packet.dup });
      if (messages.length >= args.count) resolve();
    });
  });
  client.on("connect", (connack) => sessionPresent ??= connack.sessionPresent);
  await done;
  // Give the broker the acks, and a chance to send duplicates we would see.
  await new Promise((resolve) => setTimeout(resolve, 200));
  out({ sessionPresent, messages });
  await client.endAsync();
} else if (scenario === "publish") {
  const client = connect({
    clientId: args.clientId,
    clean: args.clean ?? true,
    reconnectPeriod: args.reconnectPeriod ?? 0,
  });
  let connects = 0;
  client.on("connect", () => connects++);
  await once(client, "connect");
  const acks = [];
  for (let i = 0; i < args.count; i++) {
    acks.push(client.publishAsync(args.topic, `m${i}`, { qos: args.qos }));
  }
  await Promise.all(acks);
  out({ published: args.count, connects });
  await client.endAsync();
} else if (scenario === "roundtrip") {
  const client = connect({ reconnectPeriod: 0 });
  await once(client, "connect");
  await client.subscribeAsync(args.topic, { qos: 1 });
  const got = new Promise((resolve) =>
    client.once(
      "message",
      (topic, payload, packet) => resolve({ topic, text: payload.toString(), qos: packet.qos }),
    )
  );
  await client.publishAsync(args.topic, "over websocket", { qos: 1 });
  out(await got);
  await client.endAsync();
} else {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
clearTimeout(timer);
