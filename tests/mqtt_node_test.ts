// Copyright mb authors. MIT license.
// MQTT.js (npm `mqtt`, pinned in bench/peers) under Node.js against mb:
// a persistent session across a client reconnect and across a broker
// restart with --data, QoS 1 and 2 in flight across a dropped connection,
// and MQTT over WebSocket.

import assert from "node:assert/strict";
import { ensureNpmPeers } from "../bench/peers.ts";
import { MqttPacketType } from "../protocol/mqtt_packets.ts";
import { Broker } from "../server/mod.ts";
import { deadline, eventually, ROOT, startBroker, tempDataDir, uniqueName } from "./_helpers.ts";
import { RawMqtt } from "./_mqtt_client.ts";

/** What mqtt_check.mjs prints, by scenario. */
interface NodeResult {
  sessionPresent?: boolean;
  messages: { topic: string; text: string; qos: number; dup: boolean }[];
  published?: number;
  connects: number;
  text?: string;
  qos?: number;
}

async function node(scenario: string, args: Record<string, unknown>): Promise<NodeResult> {
  await ensureNpmPeers(() => {});
  let output;
  try {
    output = await new Deno.Command("node", {
      args: [`${ROOT}tests/node/mqtt_check.mjs`, scenario, JSON.stringify(args)],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(`This test needs Node.js on PATH (apt install nodejs): ${error}`);
  }
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `node ${scenario} failed (${output.code}): ${stderr}${stdout}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

function mqttPortOf(broker: Broker): number {
  return broker.addresses.find((a) => a.transport === "mqtt")!.port!;
}

Deno.test("MQTT.js: a persistent session keeps subscriptions and QoS 1/2 messages across a client reconnect", async () => {
  await using broker = await startBroker({ mqttPort: 0 });
  const url = `mqtt://127.0.0.1:${mqttPortOf(broker)}`;
  const clientId = uniqueName("mqttjs");
  const first = await node("subscribe", { url, clientId, topic: "away/#", qos: 2 });
  assert.equal(first.sessionPresent, false);
  await node("publish", { url, clientId: uniqueName("p"), topic: "away/1", qos: 1, count: 3 });
  await node("publish", { url, clientId: uniqueName("p"), topic: "away/2", qos: 2, count: 2 });
  const back = await node("receive", { url, clientId, count: 5 });
  assert.equal(back.sessionPresent, true);
  assert.deepEqual(
    back.messages.map((m: { topic: string; text: string; qos: number }) =>
      `${m.topic} ${m.text} ${m.qos}`
    ),
    ["away/1 m0 1", "away/1 m1 1", "away/1 m2 1", "away/2 m0 2", "away/2 m1 2"],
  );
});

Deno.test("MQTT.js: a persistent session survives a broker restart with --data", async () => {
  const dataDir = await tempDataDir();
  const options = { hostname: "127.0.0.1", port: 0, httpPort: null, dataDir } as const;
  let broker = new Broker({ ...options, mqttPort: 0 });
  await broker.start();
  const port = mqttPortOf(broker);
  const url = `mqtt://127.0.0.1:${port}`;
  try {
    const clientId = uniqueName("restart");
    await node("subscribe", { url, clientId, topic: "kept/#", qos: 1 });
    await node("publish", { url, clientId: uniqueName("p"), topic: "kept/a", qos: 1, count: 2 });
    await broker.stop();
    broker = new Broker({ ...options, mqttPort: port });
    await broker.start();
    const back = await node("receive", { url, clientId, count: 2 });
    assert.equal(back.sessionPresent, true);
    assert.deepEqual(back.messages.map((m) => m.text), ["m0", "m1"]);
  } finally {
    await broker.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/**
 * A TCP proxy in front of the broker whose first connection passes the
 * client's bytes but, once `cutAfter` bytes of the client's went through,
 * stops passing the broker's answers and then closes both sides: what was
 * sent is in the broker, its acks never reach the client. Later
 * connections pass everything.
 */
function cuttingProxy(target: number, cutAfter: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const pipes: Promise<unknown>[] = [];
  const serve = (async () => {
    for await (const client of listener) {
      const index = connections++;
      const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
      let fromClient = 0;
      let cut = false;
      const close = () => {
        try {
          client.close();
        } catch { /* closed */ }
        try {
          server.close();
        } catch { /* closed */ }
      };
      pipes.push((async () => {
        try {
          for await (const chunk of client.readable) {
            await server.write(chunk).then(async (n) => {
              if (n < chunk.length) await server.write(chunk.subarray(n));
            });
            fromClient += chunk.length;
            if (index === 0 && fromClient >= cutAfter && !cut) {
              cut = true;
              setTimeout(close, 300);
            }
          }
        } catch { /* closed */ }
      })());
      pipes.push((async () => {
        try {
          for await (const chunk of server.readable) {
            if (cut) continue;
            let at = 0;
            while (at < chunk.length) at += await client.write(chunk.subarray(at));
          }
        } catch { /* closed */ }
      })());
    }
  })();
  return {
    port: listener.addr.port,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      await serve.catch(() => {});
      await Promise.allSettled(pipes);
    },
  };
}

Deno.test("MQTT.js: QoS 1 and 2 publishes in flight across a dropped connection are sent again; QoS 2 arrives once", async () => {
  await using broker = await startBroker({ mqttPort: 0 });
  const port = mqttPortOf(broker);
  const { client: watcher } = await RawMqtt.connect(port, uniqueName("watch"));
  await watcher.subscribe([["inflight/#", 2]]);
  const seen: { topic: string; text: string; dup: boolean }[] = [];
  const collecting = (async () => {
    while (true) {
      let packet;
      try {
        packet = await watcher.next(undefined, 5000);
      } catch {
        return;
      }
      if (packet.type === MqttPacketType.Pubrel) {
        watcher.send({ type: MqttPacketType.Pubcomp, packetId: packet.packetId });
        continue;
      }
      if (packet.type !== MqttPacketType.Publish) continue;
      const text = new TextDecoder().decode(packet.payload);
      seen.push({ topic: packet.topic, text, dup: packet.dup });
      if (packet.qos === 1) {
        watcher.send({ type: MqttPacketType.Puback, packetId: packet.packetId });
      }
      if (packet.qos === 2) {
        watcher.send({ type: MqttPacketType.Pubrec, packetId: packet.packetId });
      }
    }
  })();
  for (const qos of [1, 2]) {
    // CONNECT is about 40 bytes; each publish about 20: cut after a few publishes.
    const proxy = cuttingProxy(port, 150);
    try {
      const result = await node("publish", {
        url: `mqtt://127.0.0.1:${proxy.port}`,
        clientId: uniqueName(`q${qos}`),
        clean: false,
        reconnectPeriod: 100,
        topic: `inflight/q${qos}`,
        qos,
        count: 10,
      });
      assert.equal(result.published, 10);
      assert.ok(
        result.connects >= 2,
        `the connection was dropped and made again: ${result.connects}`,
      );
    } finally {
      await proxy.close();
    }
    const texts = () => seen.filter((m) => m.topic === `inflight/q${qos}`).map((m) => m.text);
    await eventually(
      () => new Set(texts()).size === 10,
      5000,
      `all 10 QoS ${qos} messages`,
    );
    if (qos === 2) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(texts().length, 10, `QoS 2 exactly once: ${texts()}`);
    }
  }
  watcher.close();
  await deadline(collecting, 10_000, "watcher stopping");
});

Deno.test("MQTT.js over WebSocket at ws://host/mqtt", async () => {
  await using broker = await startBroker({ mqttPort: 0, httpPort: 0 });
  const web = broker.addresses.find((a) => a.transport === "http")!;
  const got = await node("roundtrip", {
    url: `${web.url.replace(/^http/, "ws")}/mqtt`,
    topic: uniqueName("ws"),
  });
  assert.equal(got.text, "over websocket");
  assert.equal(got.qos, 1);
});
