// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError } from "./errors.ts";
import {
  MQTT_MAX_REMAINING_LENGTH,
  type MqttPacket,
  MqttPacketType,
  type MqttQos,
} from "./mqtt_packets.ts";

const encoder = new TextEncoder();

/** Flags of {@linkcode encodeMqttPublish}. */
export interface MqttPublishOptions {
  /** QoS, 0 by default. */
  qos?: MqttQos;
  /** The retain flag. */
  retain?: boolean;
  /** The DUP flag (QoS 1 and 2 only). */
  dup?: boolean;
  /** The packet identifier, required (1 to 65535) at QoS 1 and 2. */
  packetId?: number;
}

/**
 * Encodes a PUBLISH packet in one allocation of exactly its size.
 *
 * @param topic The topic, as text or already-encoded UTF-8.
 * @param payload The payload.
 * @param options QoS, flags and packet identifier.
 * @returns The packet's bytes.
 * @throws {MbError} `INVALID_ARGUMENT` for a missing packet id at QoS 1 or 2,
 * a topic over 65535 bytes, or a packet over the MQTT size limit.
 *
 * @example
 * ```ts
 * import { encodeMqttPublish } from "./mqtt_encode.ts";
 * import assert from "node:assert/strict";
 *
 * const packet = encodeMqttPublish("a/b", new Uint8Array([1]), { qos: 1, packetId: 7 });
 * assert.deepEqual([...packet], [0x32, 8, 0, 3, 0x61, 0x2f, 0x62, 0, 7, 1]);
 * ```
 */
export function encodeMqttPublish(
  topic: string | Uint8Array,
  payload: Uint8Array,
  options: MqttPublishOptions = {},
): Uint8Array {
  const qos = options.qos ?? 0;
  const topicBytes = typeof topic === "string" ? encoder.encode(topic) : topic;
  if (topicBytes.length > 0xffff) {
    throw new MbError("INVALID_ARGUMENT", "MQTT topic longer than 65535 bytes");
  }
  const packetId = options.packetId ?? 0;
  if (qos > 0 && !(packetId >= 1 && packetId <= 0xffff)) {
    throw new MbError("INVALID_ARGUMENT", `MQTT PUBLISH at QoS ${qos} needs a packet id 1-65535`);
  }
  const remaining = 2 + topicBytes.length + (qos > 0 ? 2 : 0) + payload.length;
  const out = allocate(remaining);
  out[0] = (MqttPacketType.Publish << 4) | (options.dup && qos > 0 ? 8 : 0) | (qos << 1) |
    (options.retain ? 1 : 0);
  let at = out.length - remaining;
  out[at++] = topicBytes.length >> 8;
  out[at++] = topicBytes.length & 0xff;
  out.set(topicBytes, at);
  at += topicBytes.length;
  if (qos > 0) {
    out[at++] = packetId >> 8;
    out[at++] = packetId & 0xff;
  }
  out.set(payload, at);
  return out;
}

/**
 * Encodes any MQTT 3.1.1 control packet.
 *
 * @param packet The packet.
 * @returns Its bytes.
 * @throws {MbError} `INVALID_ARGUMENT` for a packet the decoder would refuse
 * (a packet id out of range, a string over 65535 bytes, an empty SUBSCRIBE).
 *
 * @example
 * ```ts
 * import { encodeMqttPacket, MqttPacketType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual([...encodeMqttPacket({ type: MqttPacketType.Pingreq })], [0xc0, 0]);
 * assert.deepEqual(
 *   [...encodeMqttPacket({ type: MqttPacketType.Puback, packetId: 258 })],
 *   [0x40, 2, 1, 2],
 * );
 * ```
 */
export function encodeMqttPacket(packet: MqttPacket): Uint8Array {
  switch (packet.type) {
    case MqttPacketType.Publish:
      return encodeMqttPublish(packet.topic, packet.payload, packet);
    case MqttPacketType.Connect: {
      const parts: Uint8Array[] = [text(packet.protocolName)];
      let flags = packet.cleanSession ? 2 : 0;
      const will = packet.will;
      parts.push(new Uint8Array([packet.protocolLevel]));
      const flagIndex = parts.length;
      parts.push(new Uint8Array(1));
      parts.push(u16(packet.keepalive));
      parts.push(text(packet.clientId));
      if (will !== undefined) {
        flags |= 4 | (will.qos << 3) | (will.retain ? 0x20 : 0);
        parts.push(text(will.topic), binary(will.payload));
      }
      if (packet.username !== undefined) {
        flags |= 0x80;
        parts.push(text(packet.username));
      }
      if (packet.password !== undefined) {
        if (packet.username === undefined) {
          throw new MbError("INVALID_ARGUMENT", "MQTT CONNECT: a password needs a user name");
        }
        flags |= 0x40;
        parts.push(binary(packet.password));
      }
      parts[flagIndex][0] = flags;
      return withHeader(MqttPacketType.Connect << 4, parts);
    }
    case MqttPacketType.Connack:
      return new Uint8Array([0x20, 2, packet.sessionPresent ? 1 : 0, packet.returnCode]);
    case MqttPacketType.Puback:
    case MqttPacketType.Pubrec:
    case MqttPacketType.Pubrel:
    case MqttPacketType.Pubcomp:
    case MqttPacketType.Unsuback: {
      const id = checkId(packet.packetId);
      const flags = packet.type === MqttPacketType.Pubrel ? 2 : 0;
      return new Uint8Array([(packet.type << 4) | flags, 2, id >> 8, id & 0xff]);
    }
    case MqttPacketType.Subscribe: {
      if (packet.subscriptions.length === 0) {
        throw new MbError("INVALID_ARGUMENT", "MQTT SUBSCRIBE needs a topic filter");
      }
      const parts = [u16(checkId(packet.packetId))];
      for (const { filter, qos } of packet.subscriptions) {
        parts.push(text(filter), new Uint8Array([qos]));
      }
      return withHeader((MqttPacketType.Subscribe << 4) | 2, parts);
    }
    case MqttPacketType.Suback:
      return withHeader(MqttPacketType.Suback << 4, [
        u16(checkId(packet.packetId)),
        new Uint8Array(packet.returnCodes),
      ]);
    case MqttPacketType.Unsubscribe: {
      if (packet.filters.length === 0) {
        throw new MbError("INVALID_ARGUMENT", "MQTT UNSUBSCRIBE needs a topic filter");
      }
      const parts = [u16(checkId(packet.packetId))];
      for (const filter of packet.filters) parts.push(text(filter));
      return withHeader((MqttPacketType.Unsubscribe << 4) | 2, parts);
    }
    case MqttPacketType.Pingreq:
    case MqttPacketType.Pingresp:
    case MqttPacketType.Disconnect:
      return new Uint8Array([packet.type << 4, 0]);
  }
}

function checkId(id: number): number {
  if (!(Number.isInteger(id) && id >= 1 && id <= 0xffff)) {
    throw new MbError("INVALID_ARGUMENT", `MQTT packet id ${id} is not 1-65535`);
  }
  return id;
}

function u16(value: number): Uint8Array {
  return new Uint8Array([value >> 8, value & 0xff]);
}

function binary(bytes: Uint8Array): Uint8Array {
  if (bytes.length > 0xffff) {
    throw new MbError("INVALID_ARGUMENT", "MQTT field longer than 65535 bytes");
  }
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

function text(value: string): Uint8Array {
  return binary(encoder.encode(value));
}

/** A buffer with the fixed header's remaining length written; byte 0 left to the caller. */
function allocate(remaining: number): Uint8Array {
  if (remaining > MQTT_MAX_REMAINING_LENGTH) {
    throw new MbError("INVALID_ARGUMENT", `MQTT packet body of ${remaining} bytes is too large`);
  }
  const lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4;
  const out = new Uint8Array(1 + lengthBytes + remaining);
  let value = remaining;
  for (let k = 1; k <= lengthBytes; k++) {
    const digit = value % 128;
    value = Math.floor(value / 128);
    out[k] = k < lengthBytes ? digit | 0x80 : digit;
  }
  return out;
}

function withHeader(first: number, parts: Uint8Array[]): Uint8Array {
  let remaining = 0;
  for (const part of parts) remaining += part.length;
  const out = allocate(remaining);
  out[0] = first;
  let at = out.length - remaining;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
