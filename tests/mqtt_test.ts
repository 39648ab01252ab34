// Copyright mb authors. MIT license.
// MQTT 3.1.1 on real sockets, packet by packet: CONNECT rules, keepalive and
// will, QoS 0/1/2 in both directions, subscriptions and wildcards, shared
// subscriptions, retained messages, persistent sessions (in memory and
// across a restart with a data directory), MQTT <-> native, bad input.

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { MqttConnectReturnCode, MqttPacketType } from "../protocol/mqtt_packets.ts";
import type { BrokerOptions } from "../server/mod.ts";
import { Broker } from "../server/mod.ts";
import {
  deadline,
  eventually,
  startBroker,
  tempDataDir,
  testCertificate,
  uniqueName,
} from "./_helpers.ts";
import { RawMqtt } from "./_mqtt_client.ts";

async function startMqttBroker(options: BrokerOptions = {}) {
  const broker = await startBroker({ mqttPort: 0, ...options });
  const mqtt = broker.addresses.find((a) => a.transport === "mqtt");
  assert.ok(mqtt !== undefined, "the broker lists its MQTT listener");
  return Object.assign(broker, { mqttPort: mqtt.port! });
}

function connectPacket(fields: Partial<{
  protocolName: string;
  protocolLevel: number;
  cleanSession: boolean;
  clientId: string;
}> = {}) {
  return {
    type: MqttPacketType.Connect,
    protocolName: fields.protocolName ?? "MQTT",
    protocolLevel: fields.protocolLevel ?? 4,
    cleanSession: fields.cleanSession ?? true,
    keepalive: 0,
    clientId: fields.clientId ?? uniqueName("c"),
  } as const;
}

async function closedWithin(client: RawMqtt, ms: number, what: string): Promise<void> {
  await deadline(client.closed, ms, what);
}

Deno.test("MQTT CONNECT: accepted, refused protocol level, unknown name, packets before CONNECT, a second CONNECT", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;

  const { client, connack } = await RawMqtt.connect(port, uniqueName("ok"));
  assert.equal(connack.returnCode, MqttConnectReturnCode.Accepted);
  assert.equal(connack.sessionPresent, false);
  client.send({ type: MqttPacketType.Pingreq });
  await client.next(MqttPacketType.Pingresp);
  // A second CONNECT on the same socket is a protocol violation.
  client.send(connectPacket());
  await closedWithin(client, 3000, "second CONNECT closes");

  const level3 = await RawMqtt.open(port);
  level3.send(connectPacket({ protocolLevel: 3 }));
  const refused = await level3.next(MqttPacketType.Connack);
  assert.equal(refused.type === MqttPacketType.Connack && refused.returnCode, 1);
  await closedWithin(level3, 3000, "level 3 closes after CONNACK 1");

  const strange = await RawMqtt.open(port);
  strange.send(connectPacket({ protocolName: "MQTX" }));
  await closedWithin(strange, 3000, "an unknown protocol name closes without CONNACK");
  assert.ok(await strange.quiet(10), "no CONNACK for an unknown protocol name");

  const early = await RawMqtt.open(port);
  early.send({ type: MqttPacketType.Pingreq });
  await closedWithin(early, 3000, "a packet before CONNECT closes");
  assert.ok(await early.quiet(10));

  // The broker still serves others.
  const { client: after } = await RawMqtt.connect(port, uniqueName("after"));
  after.send({ type: MqttPacketType.Pingreq });
  await after.next(MqttPacketType.Pingresp);
  await after[Symbol.asyncDispose]();
});

Deno.test("MQTT client ids: an empty id with clean session gets one, without it is refused; a second connection takes the id over", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const { client: anonymous, connack } = await RawMqtt.connect(port, "");
  assert.equal(connack.returnCode, 0);
  await anonymous[Symbol.asyncDispose]();

  const refusedClient = await RawMqtt.open(port);
  refusedClient.send(connectPacket({ clientId: "", cleanSession: false }));
  const refused = await refusedClient.next(MqttPacketType.Connack);
  assert.equal(refused.type === MqttPacketType.Connack && refused.returnCode, 2);
  await closedWithin(refusedClient, 3000, "refused id closes");

  const id = uniqueName("twin");
  const { client: first } = await RawMqtt.connect(port, id);
  const { client: second, connack: secondAck } = await RawMqtt.connect(port, id);
  assert.equal(secondAck.returnCode, 0);
  await closedWithin(first, 3000, "the first connection is closed on takeover");
  second.send({ type: MqttPacketType.Pingreq });
  await second.next(MqttPacketType.Pingresp);
  await second[Symbol.asyncDispose]();
});

Deno.test("MQTT keepalive: a silent client is closed after 1.5x its keepalive and its will published; DISCONNECT discards the will", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const { client: watcher } = await RawMqtt.connect(port, uniqueName("watch"));
  assert.deepEqual(await watcher.subscribe([["wills/#", 0]]), [0]);

  const started = performance.now();
  const { client: silent } = await RawMqtt.connect(port, uniqueName("silent"), {
    keepalive: 1,
    will: { topic: "wills/silent", payload: "gone" },
  });
  await closedWithin(silent, 4000, "a silent client is closed");
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 1400, `closed after ${elapsed} ms, not before 1.5 s`);
  const will = await watcher.nextPublish();
  assert.equal(will.topic, "wills/silent");
  assert.equal(will.text, "gone");

  // A client that pings is kept.
  const { client: pinging } = await RawMqtt.connect(port, uniqueName("ping"), { keepalive: 1 });
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    pinging.send({ type: MqttPacketType.Pingreq });
    await pinging.next(MqttPacketType.Pingresp);
  }

  const { client: polite } = await RawMqtt.connect(port, uniqueName("polite"), {
    will: { topic: "wills/polite", payload: "should not appear" },
  });
  polite.send({ type: MqttPacketType.Disconnect });
  await closedWithin(polite, 3000, "DISCONNECT closes");
  // An unclean end publishes the will.
  const { client: rude } = await RawMqtt.connect(port, uniqueName("rude"), {
    will: { topic: "wills/rude", payload: "dropped", qos: 1 },
  });
  rude.close();
  const next = await watcher.nextPublish();
  assert.equal(next.topic, "wills/rude", "the DISCONNECTed client's will was not published");
  await pinging[Symbol.asyncDispose]();
  await watcher[Symbol.asyncDispose]();
});

Deno.test("MQTT QoS 1 and 2 into the broker: PUBACK, PUBREC/PUBREL/PUBCOMP, a resent QoS 2 publish routed once", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const { client: sub } = await RawMqtt.connect(port, uniqueName("sub"));
  await sub.subscribe([["q/#", 2]]);
  const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));

  pub.publish("q/one", "1", 1, 7);
  const puback = await pub.next(MqttPacketType.Puback);
  assert.equal(puback.type === MqttPacketType.Puback && puback.packetId, 7);

  pub.publish("q/two", "2", 2, 8);
  const pubrec = await pub.next(MqttPacketType.Pubrec);
  assert.equal(pubrec.type === MqttPacketType.Pubrec && pubrec.packetId, 8);
  // The same packet again (DUP) before PUBREL: not routed twice.
  pub.send({
    type: MqttPacketType.Publish,
    topic: "q/two",
    payload: new TextEncoder().encode("2"),
    qos: 2,
    retain: false,
    dup: true,
    packetId: 8,
  });
  await pub.next(MqttPacketType.Pubrec);
  pub.send({ type: MqttPacketType.Pubrel, packetId: 8 });
  const pubcomp = await pub.next(MqttPacketType.Pubcomp);
  assert.equal(pubcomp.type === MqttPacketType.Pubcomp && pubcomp.packetId, 8);

  const first = await sub.nextPublish();
  assert.deepEqual([first.topic, first.text, first.qos], ["q/one", "1", 1]);
  sub.send({ type: MqttPacketType.Puback, packetId: first.packetId });
  const second = await sub.nextPublish();
  assert.deepEqual([second.topic, second.text, second.qos], ["q/two", "2", 2]);
  // Outbound QoS 2: PUBREC -> PUBREL -> PUBCOMP.
  sub.send({ type: MqttPacketType.Pubrec, packetId: second.packetId });
  const pubrel = await sub.next(MqttPacketType.Pubrel);
  assert.equal(pubrel.type === MqttPacketType.Pubrel && pubrel.packetId, second.packetId);
  sub.send({ type: MqttPacketType.Pubcomp, packetId: second.packetId });
  assert.ok(await sub.quiet(200), "the resent QoS 2 publish was delivered once");
  await pub[Symbol.asyncDispose]();
  await sub[Symbol.asyncDispose]();
});

Deno.test("MQTT subscriptions: granted QoS caps delivery, wildcards, 0x80 for a bad filter, UNSUBSCRIBE, one delivery per matching subscription", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const { client: sub } = await RawMqtt.connect(port, uniqueName("sub"));
  assert.deepEqual(
    await sub.subscribe([["s/+/temp", 1], ["s/a/#/x", 1], ["s/#", 0]]),
    [1, 0x80, 0],
  );
  const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));
  pub.publish("s/kitchen/temp", "22.5", 2, 1);
  await pub.next(MqttPacketType.Pubrec);
  const got = [await sub.nextPublish(), await sub.nextPublish()];
  // Overlapping subscriptions: one message per matching subscription, each
  // at its own granted QoS.
  assert.deepEqual(got.map((p) => p.qos).sort(), [0, 1]);
  for (const p of got) {
    assert.equal(p.topic, "s/kitchen/temp");
    assert.equal(p.retain, false);
    if (p.qos === 1) sub.send({ type: MqttPacketType.Puback, packetId: p.packetId });
  }
  sub.send({ type: MqttPacketType.Unsubscribe, packetId: 9, filters: ["s/#", "s/+/temp"] });
  const unsuback = await sub.next(MqttPacketType.Unsuback);
  assert.equal(unsuback.type === MqttPacketType.Unsuback && unsuback.packetId, 9);
  pub.publish("s/kitchen/temp", "23", 0);
  assert.ok(await sub.quiet(200), "nothing after UNSUBSCRIBE");
  await pub[Symbol.asyncDispose]();
  await sub[Symbol.asyncDispose]();
});

Deno.test("MQTT shared subscriptions: $share/GROUP/FILTER members share the messages, with native queue-group members too", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const a = (await RawMqtt.connect(port, uniqueName("a"))).client;
  const b = (await RawMqtt.connect(port, uniqueName("b"))).client;
  await a.subscribe([["$share/workers/jobs/#", 0]]);
  await b.subscribe([["$share/workers/jobs/#", 0]]);
  await using native = await connect(broker.url);
  const nativeMember = native.subscribe("jobs/#", { queue: "workers" });
  await native.flush();
  const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));
  const total = 60;
  for (let i = 0; i < total; i++) pub.publish(`jobs/${i}`, String(i));
  pub.send({ type: MqttPacketType.Pingreq });
  await pub.next(MqttPacketType.Pingresp);
  const counts = [0, 0, 0];
  const drain = async (client: RawMqtt, index: number) => {
    while (!(await client.quiet(150))) {
      await client.nextPublish();
      counts[index]++;
    }
  };
  const nativeDrain = (async () => {
    for await (const _ of nativeMember) {
      counts[2]++;
      if (counts[0] + counts[1] + counts[2] === total) break;
    }
  })();
  await eventually(
    async () => {
      await Promise.all([drain(a, 0), drain(b, 1)]);
      return counts[0] + counts[1] + counts[2] === total;
    },
    5000,
    "every job delivered once",
  );
  nativeMember.unsubscribe();
  await nativeDrain;
  assert.equal(counts[0] + counts[1] + counts[2], total);
  assert.ok(counts.every((n) => n > 0), `each member got some: ${counts}`);
  for (const client of [a, b, pub]) await client[Symbol.asyncDispose]();
});

Deno.test("MQTT retained messages: set, replace, clear; sent with the retain flag on subscribe, wildcards included; live ones without it", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));
  pub.publish("r/kitchen", "20", 1, 1, true);
  await pub.next(MqttPacketType.Puback);
  pub.publish("r/kitchen", "21", 1, 2, true);
  await pub.next(MqttPacketType.Puback);
  pub.publish("r/hall", "19", 0, 0, true);
  pub.publish("r/cellar", "5", 0, 0, true);
  pub.publish("r/cellar", "", 0, 0, true); // clears
  pub.send({ type: MqttPacketType.Pingreq });
  await pub.next(MqttPacketType.Pingresp);

  const { client: sub } = await RawMqtt.connect(port, uniqueName("sub"));
  await sub.subscribe([["r/+", 1]]);
  const retained = [await sub.nextPublish(), await sub.nextPublish()];
  const byTopic = new Map(retained.map((p) => [p.topic, p]));
  assert.deepEqual([...byTopic.keys()].sort(), ["r/hall", "r/kitchen"]);
  assert.equal(byTopic.get("r/kitchen")!.text, "21");
  assert.equal(byTopic.get("r/kitchen")!.qos, 1);
  assert.equal(byTopic.get("r/hall")!.qos, 0);
  assert.ok(retained.every((p) => p.retain), "retained messages carry the retain flag");
  sub.send({ type: MqttPacketType.Puback, packetId: byTopic.get("r/kitchen")!.packetId });
  assert.ok(await sub.quiet(100), "the cleared topic is not sent");

  pub.publish("r/kitchen", "22", 0, 0, true);
  const live = await sub.nextPublish();
  assert.equal(live.text, "22");
  assert.equal(live.retain, false, "a live message goes without the retain flag");
  await pub[Symbol.asyncDispose]();
  await sub[Symbol.asyncDispose]();
});

Deno.test("MQTT persistent session: subscriptions and QoS 1/2 messages kept while away, in-flight resent with DUP; clean session discards", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const id = uniqueName("durable");
  const { client: first, connack } = await RawMqtt.connect(port, id, { cleanSession: false });
  assert.equal(connack.sessionPresent, false);
  await first.subscribe([["p/#", 2]]);
  const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));
  pub.publish("p/1", "one", 1, 1);
  await pub.next(MqttPacketType.Puback);
  const unacked = await first.nextPublish();
  assert.equal(unacked.text, "one");
  first.close(); // without PUBACK
  await eventually(() => broker.stats().connections === 1, 3000, "the broker saw it go");

  pub.publish("p/2", "two", 1, 2);
  await pub.next(MqttPacketType.Puback);
  pub.publish("p/3", "three", 2, 3);
  await pub.next(MqttPacketType.Pubrec);
  pub.send({ type: MqttPacketType.Pubrel, packetId: 3 });
  await pub.next(MqttPacketType.Pubcomp);
  pub.publish("p/4", "zero", 0); // QoS 0 is not kept for an absent client

  const { client: back, connack: again } = await RawMqtt.connect(port, id, {
    cleanSession: false,
  });
  assert.equal(again.sessionPresent, true);
  const resent = await back.nextPublish();
  assert.deepEqual([resent.text, resent.dup, resent.packetId], ["one", true, unacked.packetId]);
  back.send({ type: MqttPacketType.Puback, packetId: resent.packetId });
  const two = await back.nextPublish();
  assert.deepEqual([two.text, two.qos, two.dup], ["two", 1, false]);
  back.send({ type: MqttPacketType.Puback, packetId: two.packetId });
  const three = await back.nextPublish();
  assert.deepEqual([three.text, three.qos], ["three", 2]);
  assert.ok(await back.quiet(150), "the QoS 0 message was not kept");
  back.close();
  await back.closed;

  const { client: fresh, connack: cleaned } = await RawMqtt.connect(port, id, {
    cleanSession: true,
  });
  assert.equal(cleaned.sessionPresent, false);
  pub.publish("p/5", "after clean", 1, 5);
  await pub.next(MqttPacketType.Puback);
  assert.ok(await fresh.quiet(150), "a clean session has no old subscriptions");
  await fresh[Symbol.asyncDispose]();
  await pub[Symbol.asyncDispose]();
});

Deno.test("MQTT persistent sessions and retained messages survive a broker restart with a data directory", async () => {
  const dataDir = await tempDataDir();
  const options = { hostname: "127.0.0.1", port: 0, httpPort: null, dataDir } as const;
  let broker = new Broker({ ...options, mqttPort: 0 });
  await broker.start();
  const port = broker.addresses.find((a) => a.transport === "mqtt")!.port!;
  try {
    const id = uniqueName("restart");
    const { client } = await RawMqtt.connect(port, id, { cleanSession: false });
    await client.subscribe([["keep/#", 1]]);
    client.close();
    await client.closed;
    const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));
    pub.publish("keep/a", "while away", 1, 1);
    await pub.next(MqttPacketType.Puback);
    pub.publish("keep/retained", "last value", 1, 2, true);
    await pub.next(MqttPacketType.Puback);
    await pub[Symbol.asyncDispose]();
    await broker.stop();

    broker = new Broker({ ...options, mqttPort: port });
    await broker.start();
    const { client: back, connack } = await RawMqtt.connect(port, id, { cleanSession: false });
    assert.equal(connack.sessionPresent, true);
    const got = [await back.nextPublish(), await back.nextPublish()];
    assert.deepEqual(got.map((p) => p.text).sort(), ["last value", "while away"]);
    for (const p of got) back.send({ type: MqttPacketType.Puback, packetId: p.packetId });
    const { client: late } = await RawMqtt.connect(port, uniqueName("late"));
    await late.subscribe([["keep/retained", 0]]);
    const retained = await late.nextPublish();
    assert.deepEqual([retained.text, retained.retain], ["last value", true]);
    await late[Symbol.asyncDispose]();
    await back[Symbol.asyncDispose]();
  } finally {
    await broker.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("MQTT and native clients meet on one topic both ways; MQTT publishes are captured by streams", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  await using native = await connect(broker.url);
  const stream = uniqueName("mqttcap");
  await native.streams.create({ name: stream, topics: ["bridge/#"] });
  const nativeSub = native.subscribe("bridge/+");
  await native.flush();
  const { client: mqtt } = await RawMqtt.connect(port, uniqueName("m"));
  await mqtt.subscribe([["bridge/#", 1]]);

  mqtt.publish("bridge/from-mqtt", "22.5", 1, 1);
  // The PUBACK waits for the stream; the echo to its own subscription need not.
  const [one, two] = [await mqtt.next(), await mqtt.next()];
  const echo = one.type === MqttPacketType.Publish ? one : two;
  assert.deepEqual(
    new Set([one.type, two.type]),
    new Set([MqttPacketType.Puback, MqttPacketType.Publish]),
  );
  assert.ok(echo.type === MqttPacketType.Publish);
  for await (const message of nativeSub) {
    assert.equal(message.topic, "bridge/from-mqtt");
    assert.equal(message.text(), "22.5");
    break;
  }
  assert.equal(echo.topic, "bridge/from-mqtt");
  mqtt.send({ type: MqttPacketType.Puback, packetId: echo.packetId });

  await native.publish("bridge/from-native", "21", { confirm: true });
  const fromNative = await mqtt.nextPublish();
  assert.deepEqual([fromNative.topic, fromNative.text, fromNative.qos], [
    "bridge/from-native",
    "21",
    1,
  ]);
  mqtt.send({ type: MqttPacketType.Puback, packetId: fromNative.packetId });
  const info = await native.streams.info(stream);
  assert.equal(info.messages, 2, "the stream captured the MQTT and the native publish");
  await mqtt[Symbol.asyncDispose]();
});

Deno.test("MQTT bad input closes only that connection; nothing accepted at QoS 1 is lost", async () => {
  await using broker = await startMqttBroker();
  const port = broker.mqttPort;
  const id = uniqueName("keeper");
  const { client: keeper } = await RawMqtt.connect(port, id, { cleanSession: false });
  await keeper.subscribe([["bad/#", 1]]);
  keeper.close();
  await keeper.closed;

  const cases: [string, Uint8Array][] = [
    ["remaining length over 4 bytes", new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])],
    // PUBLISH QoS 0, topic "a/+" (wildcard in a publish topic).
    ["wildcard in a publish topic", new Uint8Array([0x30, 5, 0, 3, 0x61, 0x2f, 0x2b])],
    // PUBLISH QoS 1 with packet id 0.
    ["packet id 0", new Uint8Array([0x32, 5, 0, 1, 0x61, 0, 0])],
    // PUBLISH QoS 0 with an invalid UTF-8 topic.
    ["invalid UTF-8 topic", new Uint8Array([0x30, 4, 0, 2, 0xc3, 0x28])],
    // A PUBLISH cut short: topic length says 200, 2 bytes follow, then the socket ends.
    ["truncated", new Uint8Array([0x30, 10, 0, 200, 0x61])],
    // Remaining length over the limit.
    ["over the size limit", new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f])],
  ];
  for (const [what, bytes] of cases) {
    const { client: pub } = await RawMqtt.connect(port, uniqueName("pub"));
    pub.publish(`bad/${what.replaceAll(" ", "-")}`, "accepted", 1, 1);
    await pub.next(MqttPacketType.Puback);
    pub.write(bytes);
    if (what === "truncated") {
      await new Promise((resolve) => setTimeout(resolve, 50));
      pub.close();
    }
    await closedWithin(pub, 3000, `${what} closes the connection`);
  }
  const { client: back } = await RawMqtt.connect(port, id, { cleanSession: false });
  const texts: string[] = [];
  for (let i = 0; i < cases.length; i++) {
    const p = await back.nextPublish();
    texts.push(p.text);
    back.send({ type: MqttPacketType.Puback, packetId: p.packetId });
  }
  assert.deepEqual(texts, cases.map(() => "accepted"));
  await back[Symbol.asyncDispose]();
});

Deno.test("MQTT over WebSocket at /mqtt (subprotocol mqtt) meets TCP MQTT clients", async () => {
  await using broker = await startMqttBroker({ httpPort: 0 });
  const web = broker.addresses.find((a) => a.transport === "http")!;
  const { encodeMqttPacket } = await import("../protocol/mqtt_encode.ts");
  const { MqttDecoder } = await import("../protocol/mqtt_decoder.ts");
  const socket = new WebSocket(`${web.url.replace(/^http/, "ws")}/mqtt`, "mqtt");
  socket.binaryType = "arraybuffer";
  const incoming = new TransformStream<Uint8Array, Uint8Array>();
  const writer = incoming.writable.getWriter();
  socket.onmessage = (event) => void writer.write(new Uint8Array(event.data as ArrayBuffer));
  socket.onclose = () => void writer.close().catch(() => {});
  await deadline(new Promise((resolve) => socket.onopen = resolve), 3000, "WebSocket open");
  assert.equal(socket.protocol, "mqtt");
  const packets = incoming.readable.pipeThrough(new MqttDecoder()).getReader();
  const nextPacket = async () => {
    const { value } = await deadline(packets.read(), 3000, "packet over WebSocket");
    return value![0];
  };
  socket.send(encodeMqttPacket(connectPacket()));
  assert.equal((await nextPacket()).type, MqttPacketType.Connack);
  socket.send(encodeMqttPacket({
    type: MqttPacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ filter: "ws/#", qos: 0 }],
  }));
  assert.equal((await nextPacket()).type, MqttPacketType.Suback);
  const { client: tcp } = await RawMqtt.connect(broker.mqttPort, uniqueName("tcp"));
  tcp.publish("ws/hello", "over websocket");
  const got = await nextPacket();
  assert.ok(got.type === MqttPacketType.Publish);
  assert.equal(new TextDecoder().decode(got.payload), "over websocket");
  socket.close();
  await tcp[Symbol.asyncDispose]();
  await packets.cancel().catch(() => {});
});

Deno.test("MQTT over TLS with the broker's certificate, and the token as the password", async () => {
  const { ca, cert, key } = await testCertificate();
  await using broker = await startMqttBroker({
    tls: { cert, key, port: 0 },
    mqttTlsPort: 0,
    token: "s3cret",
  });
  const mqtts = broker.addresses.find((a) => a.transport === "mqtts");
  assert.ok(mqtts !== undefined, "the broker lists its MQTT over TLS listener");
  assert.match(mqtts.url, /^mqtts:\/\//);
  const { client, connack } = await RawMqtt.connect(mqtts.port!, uniqueName("tls"), {
    ca,
    password: "s3cret",
  });
  assert.equal(connack.returnCode, 0);
  await client.subscribe([["secure/#", 1]]);
  client.publish("secure/a", "over tls", 1, 1);
  const [one, two] = [await client.next(), await client.next()];
  assert.deepEqual(new Set([one.type, two.type]), new Set([4, 3]));
  await client[Symbol.asyncDispose]();

  const wrong = await RawMqtt.connect(broker.mqttPort, uniqueName("bad"), { password: "nope" });
  assert.equal(wrong.connack.returnCode, MqttConnectReturnCode.BadUsernameOrPassword);
  await closedWithin(wrong.client, 3000, "a wrong password closes");
  const none = await RawMqtt.connect(broker.mqttPort, uniqueName("none"));
  assert.equal(none.connack.returnCode, MqttConnectReturnCode.NotAuthorized);
  await closedWithin(none.client, 3000, "a missing password closes");
});

Deno.test("MQTT $SYS topics: the broker's figures under $SYS/broker/, not matched by leading wildcards", async () => {
  await using broker = await startMqttBroker({ sysIntervalMs: 100 });
  const { client: all } = await RawMqtt.connect(broker.mqttPort, uniqueName("all"));
  await all.subscribe([["#", 0], ["+/broker/#", 0]]);
  const { client: sys } = await RawMqtt.connect(broker.mqttPort, uniqueName("sys"));
  await sys.subscribe([["$SYS/broker/clients/connected", 0]]);
  const retained = await sys.nextPublish();
  assert.equal(retained.retain, true);
  assert.match(retained.text, /^\d+$/);
  const live = await sys.nextPublish(2000);
  assert.equal(live.topic, "$SYS/broker/clients/connected");
  assert.equal(live.text, "2");
  assert.ok(await all.quiet(300), "'#' and '+/...' do not match $SYS topics");
  // Clients may not publish there.
  all.publish("$SYS/broker/clients/connected", "999", 1, 1);
  await all.next(MqttPacketType.Puback);
  const next = await sys.nextPublish(2000);
  assert.notEqual(next.text, "999");
  await all[Symbol.asyncDispose]();
  await sys[Symbol.asyncDispose]();
});
