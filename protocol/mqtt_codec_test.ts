// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { MbError } from "./errors.ts";
import { MqttParser } from "./_mqtt_parser.ts";
import { MqttDecoder } from "./mqtt_decoder.ts";
import { encodeMqttPacket, encodeMqttPublish } from "./mqtt_encode.ts";
import { type MqttPacket, MqttPacketType } from "./mqtt_packets.ts";
import { mqttFilterProblem, mqttTopicProblem, parseMqttSharedFilter } from "./mqtt_topic.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

const EVERY_PACKET: MqttPacket[] = [
  {
    type: MqttPacketType.Connect,
    protocolName: "MQTT",
    protocolLevel: 4,
    cleanSession: false,
    keepalive: 60,
    clientId: "sensor-ü",
    will: { topic: "wills/x", payload: bytes("bye"), qos: 1, retain: true },
    username: "user",
    password: bytes("secret"),
  },
  {
    type: MqttPacketType.Connect,
    protocolName: "MQTT",
    protocolLevel: 4,
    cleanSession: true,
    keepalive: 0,
    clientId: "",
  },
  { type: MqttPacketType.Connack, sessionPresent: true, returnCode: 0 },
  {
    type: MqttPacketType.Publish,
    topic: "a//b",
    payload: bytes("x".repeat(300)),
    qos: 2,
    retain: true,
    dup: true,
    packetId: 65535,
  },
  {
    type: MqttPacketType.Publish,
    topic: "t",
    payload: new Uint8Array(),
    qos: 0,
    retain: false,
    dup: false,
    packetId: 0,
  },
  { type: MqttPacketType.Puback, packetId: 1 },
  { type: MqttPacketType.Pubrec, packetId: 2 },
  { type: MqttPacketType.Pubrel, packetId: 3 },
  { type: MqttPacketType.Pubcomp, packetId: 4 },
  {
    type: MqttPacketType.Subscribe,
    packetId: 5,
    subscriptions: [{ filter: "a/+/c", qos: 1 }, { filter: "a/#/bad", qos: 2 }],
  },
  { type: MqttPacketType.Suback, packetId: 5, returnCodes: [1, 0x80] },
  { type: MqttPacketType.Unsubscribe, packetId: 6, filters: ["a/+/c", "$share/g/x"] },
  { type: MqttPacketType.Unsuback, packetId: 6 },
  { type: MqttPacketType.Pingreq },
  { type: MqttPacketType.Pingresp },
  { type: MqttPacketType.Disconnect },
];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Copies payloads so packets compare after their chunk is gone. */
function plain(packets: MqttPacket[]): unknown[] {
  return packets.map((p) =>
    JSON.parse(JSON.stringify(p, (_, v) => v instanceof Uint8Array ? [...v] : v))
  );
}

function parseChunks(chunks: Uint8Array[], max = 1 << 20): MqttPacket[] {
  const parser = new MqttParser(max);
  const out: MqttPacket[] = [];
  for (const chunk of chunks) parser.push(chunk, out);
  parser.end();
  return out;
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof MbError, `expected an MbError, got ${error}`);
    return error.code;
  }
  return "no error";
}

Deno.test("MQTT codec: every packet type round-trips through encode and the decoder", async () => {
  const stream = concat(EVERY_PACKET.map(encodeMqttPacket));
  const batches = await Array.fromAsync(
    ReadableStream.from([stream]).pipeThrough(new MqttDecoder()),
  );
  assert.deepEqual(plain(batches.flat()), plain(EVERY_PACKET));
});

Deno.test("MQTT codec: any chunking gives the same packets (split at every offset, byte by byte)", () => {
  const stream = concat(EVERY_PACKET.map(encodeMqttPacket));
  const expected = plain(EVERY_PACKET);
  for (let cut = 0; cut <= stream.length; cut++) {
    const got = parseChunks([stream.slice(0, cut), stream.slice(cut)]);
    assert.deepEqual(plain(got), expected, `split at ${cut}`);
  }
  const oneByOne = [...stream].map((b) => new Uint8Array([b]));
  assert.deepEqual(plain(parseChunks(oneByOne)), expected);
});

Deno.test("MQTT codec: a 4-byte remaining length; a payload whole in a chunk is a view, not a copy", () => {
  const payload = new Uint8Array(2 * 1024 * 1024).fill(7);
  const packet = encodeMqttPublish("big", payload, { qos: 1, packetId: 9 });
  assert.equal(packet[4] & 0x80, 0, "four length bytes");
  assert.equal(packet[3] & 0x80, 0x80);
  const [decoded] = parseChunks([packet], 3 * 1024 * 1024);
  assert.ok(decoded.type === MqttPacketType.Publish);
  assert.equal(decoded.payload.length, payload.length);
  assert.equal(decoded.payload.buffer, packet.buffer, "the payload is a view into the chunk");
  // Split: gathered into one buffer of exactly its size.
  const split = parseChunks([packet.subarray(0, 1000), packet.subarray(1000)], 3 * 1024 * 1024);
  assert.ok(split[0].type === MqttPacketType.Publish);
  assert.deepEqual(split[0].payload, payload);
});

Deno.test("MQTT codec: a packet over the limit is refused from its header alone", async () => {
  const parser = new MqttParser(1024);
  // PUBLISH, remaining length 2000: only the header arrives.
  assert.equal(
    codeOf(() => parser.push(new Uint8Array([0x30, 0xd0, 0x0f]), [])),
    "FRAME_TOO_LARGE",
  );
  const stream = ReadableStream.from([new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f])])
    .pipeThrough(new MqttDecoder({ maxPacketBytes: 1024 }));
  await assert.rejects(Array.fromAsync(stream), (error: MbError) => {
    return error.code === "FRAME_TOO_LARGE";
  });
});

Deno.test("MQTT codec: malformed packets are FRAME_MALFORMED", () => {
  const cases: [string, number[]][] = [
    ["remaining length over 4 bytes", [0x30, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ["reserved type 0", [0x00, 0]],
    ["reserved type 15", [0xf0, 0]],
    ["PUBREL flags 0", [0x60, 2, 0, 1]],
    ["SUBSCRIBE flags 0", [0x80, 6, 0, 1, 0, 1, 0x61, 0]],
    ["PUBACK flags 2", [0x42, 2, 0, 1]],
    ["PUBLISH QoS 3", [0x36, 5, 0, 1, 0x61, 0, 1]],
    ["PUBLISH DUP at QoS 0", [0x38, 3, 0, 1, 0x61]],
    ["PUBLISH empty topic", [0x30, 2, 0, 0]],
    ["PUBLISH wildcard +", [0x30, 5, 0, 3, 0x61, 0x2f, 0x2b]],
    ["PUBLISH wildcard #", [0x30, 3, 0, 1, 0x23]],
    ["PUBLISH invalid UTF-8", [0x30, 4, 0, 2, 0xc3, 0x28]],
    ["PUBLISH U+0000", [0x30, 3, 0, 1, 0]],
    ["PUBLISH packet id 0", [0x32, 5, 0, 1, 0x61, 0, 0]],
    ["PUBLISH topic past the end", [0x30, 3, 0, 9, 0x61]],
    ["PUBACK id 0", [0x40, 2, 0, 0]],
    ["PUBACK too long", [0x40, 3, 0, 1, 0]],
    ["PUBACK too short", [0x40, 1, 0]],
    ["PINGREQ with a body", [0xc0, 1, 0]],
    ["DISCONNECT with a body", [0xe0, 1, 0]],
    ["CONNACK reserved bits", [0x20, 2, 2, 0]],
    ["SUBSCRIBE no filter", [0x82, 2, 0, 1]],
    ["SUBSCRIBE QoS 3", [0x82, 6, 0, 1, 0, 1, 0x61, 3]],
    ["SUBSCRIBE reserved QoS bits", [0x82, 6, 0, 1, 0, 1, 0x61, 0x81]],
    ["SUBSCRIBE id 0", [0x82, 6, 0, 0, 0, 1, 0x61, 0]],
    ["UNSUBSCRIBE no filter", [0xa2, 2, 0, 1]],
    ["SUBACK bad code", [0x90, 3, 0, 1, 3]],
    // CONNECT: "MQTT", level 4, flags, keepalive, client id "c".
    ["CONNECT reserved flag", [0x10, 13, 0, 4, 77, 81, 84, 84, 4, 0x01, 0, 0, 0, 1, 0x63]],
    ["CONNECT will QoS without will", [0x10, 13, 0, 4, 77, 81, 84, 84, 4, 0x08, 0, 0, 0, 1, 0x63]],
    ["CONNECT will QoS 3", [0x10, 13, 0, 4, 77, 81, 84, 84, 4, 0x1c, 0, 0, 0, 1, 0x63]],
    ["CONNECT password alone", [0x10, 13, 0, 4, 77, 81, 84, 84, 4, 0x40, 0, 0, 0, 1, 0x63]],
    ["CONNECT missing client id", [0x10, 10, 0, 4, 77, 81, 84, 84, 4, 0x02, 0, 0]],
    ["CONNECT invalid UTF-8 id", [0x10, 13, 0, 4, 77, 81, 84, 84, 4, 0x02, 0, 0, 0, 1, 0xff]],
  ];
  for (const [what, packet] of cases) {
    assert.equal(
      codeOf(() => parseChunks([new Uint8Array(packet)])),
      "FRAME_MALFORMED",
      what,
    );
  }
  assert.equal(codeOf(() => parseChunks([new Uint8Array([0x30, 10, 0, 5])])), "FRAME_MALFORMED");
});

Deno.test("MQTT codec: CONNECT with another protocol name or level still decodes (the server answers)", () => {
  const [packet] = parseChunks([
    new Uint8Array([0x10, 15, 0, 6, 77, 81, 73, 115, 100, 112, 3, 0x02, 0, 0, 0, 1, 0x63]),
  ]);
  assert.ok(packet.type === MqttPacketType.Connect);
  assert.deepEqual([packet.protocolName, packet.protocolLevel], ["MQIsdp", 3]);
});

Deno.test("MQTT codec: the encoder refuses what the decoder would", () => {
  assert.equal(
    codeOf(() => encodeMqttPublish("a", new Uint8Array(), { qos: 1 })),
    "INVALID_ARGUMENT",
  );
  assert.equal(
    codeOf(() => encodeMqttPacket({ type: MqttPacketType.Puback, packetId: 0 })),
    "INVALID_ARGUMENT",
  );
  assert.equal(
    codeOf(() =>
      encodeMqttPacket({ type: MqttPacketType.Subscribe, packetId: 1, subscriptions: [] })
    ),
    "INVALID_ARGUMENT",
  );
});

Deno.test("MQTT topics and filters: the spec's rules, shared subscriptions", () => {
  assert.equal(mqttTopicProblem("sensors/kitchen"), undefined);
  assert.equal(mqttTopicProblem("/a//b/"), undefined);
  assert.equal(mqttTopicProblem(""), "empty");
  assert.equal(mqttTopicProblem("a/#"), "wildcard in a topic name");
  assert.equal(mqttTopicProblem("a\0b"), "contains U+0000");
  assert.equal(mqttTopicProblem("x".repeat(65536)), "longer than 65535 bytes");
  for (const ok of ["#", "+", "a/+/b", "a/#", "+/+", "/", "a//#", "$SYS/#"]) {
    assert.equal(mqttFilterProblem(ok), undefined, ok);
  }
  for (const bad of ["", "a/#/b", "a#", "a/b+", "+a/b", "a/\0"]) {
    assert.notEqual(mqttFilterProblem(bad), undefined, bad);
  }
  assert.deepEqual(parseMqttSharedFilter("$share/g/a/+"), { group: "g", filter: "a/+" });
  assert.equal(mqttFilterProblem("$share/g/a/+"), undefined);
  assert.notEqual(mqttFilterProblem("$share//a"), undefined);
  assert.notEqual(mqttFilterProblem("$share/g"), undefined);
  assert.notEqual(mqttFilterProblem("$share/g+/a"), undefined);
  assert.notEqual(mqttFilterProblem("$share/g/a/#/b"), undefined);
});
