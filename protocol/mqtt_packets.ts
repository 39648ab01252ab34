// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * MQTT 3.1.1 control packets as plain objects: what `MqttDecoder` emits and
 * `encodeMqttPacket` takes. The broker speaks MQTT beside its own protocol;
 * these types carry no I/O.
 *
 * @module
 */

/**
 * Control packet types, the high nibble of the first byte.
 *
 * @example
 * ```ts
 * import { MqttPacketType } from "./mqtt_packets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MqttPacketType.Publish, 3);
 * ```
 */
export const MqttPacketType = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
} as const;

/** One of {@linkcode MqttPacketType}'s values. */
export type MqttPacketType = typeof MqttPacketType[keyof typeof MqttPacketType];

/** A quality of service level. */
export type MqttQos = 0 | 1 | 2;

/**
 * CONNACK return codes of MQTT 3.1.1.
 *
 * @example
 * ```ts
 * import { MqttConnectReturnCode } from "./mqtt_packets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MqttConnectReturnCode.IdentifierRejected, 2);
 * ```
 */
export const MqttConnectReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUsernameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** The SUBACK return code of a refused filter. */
export const MQTT_SUBACK_FAILURE = 0x80;

/** The MQTT 3.1.1 protocol level. */
export const MQTT_PROTOCOL_LEVEL = 4;

/** The largest remaining length four bytes can encode (256 MiB - 1). */
export const MQTT_MAX_REMAINING_LENGTH = 268_435_455;

/** The will message of a CONNECT. */
export interface MqttWill {
  /** The topic it is published to. */
  topic: string;
  /** The payload. */
  payload: Uint8Array;
  /** Its QoS. */
  qos: MqttQos;
  /** Whether it is retained. */
  retain: boolean;
}

/** CONNECT: the first packet a client sends. */
export interface MqttConnect {
  /** {@linkcode MqttPacketType.Connect} */
  type: typeof MqttPacketType.Connect;
  /** `"MQTT"` for 3.1.1 (`"MQIsdp"` for 3.1). */
  protocolName: string;
  /** 4 for 3.1.1. */
  protocolLevel: number;
  /** Start a new session (and discard it at the end). */
  cleanSession: boolean;
  /** Seconds; 0 turns keepalive off. */
  keepalive: number;
  /** The client identifier, possibly empty. */
  clientId: string;
  /** The will, when the will flag is set. */
  will?: MqttWill;
  /** The user name, when its flag is set. */
  username?: string;
  /** The password, when its flag is set. */
  password?: Uint8Array;
}

/** CONNACK: the server's answer to CONNECT. */
export interface MqttConnack {
  /** {@linkcode MqttPacketType.Connack} */
  type: typeof MqttPacketType.Connack;
  /** The server resumed a stored session. */
  sessionPresent: boolean;
  /** One of {@linkcode MqttConnectReturnCode}. */
  returnCode: number;
}

/** PUBLISH, in either direction. */
export interface MqttPublish {
  /** {@linkcode MqttPacketType.Publish} */
  type: typeof MqttPacketType.Publish;
  /** The topic name (no wildcards). */
  topic: string;
  /** The payload; a view into the decoded chunk, copy it to keep it. */
  payload: Uint8Array;
  /** Its QoS. */
  qos: MqttQos;
  /** The retain flag. */
  retain: boolean;
  /** The DUP flag (a resend); always `false` at QoS 0. */
  dup: boolean;
  /** The packet identifier at QoS 1 and 2 (1 to 65535); 0 at QoS 0. */
  packetId: number;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a packet identifier only. */
export interface MqttAck {
  /** The packet's type. */
  type:
    | typeof MqttPacketType.Puback
    | typeof MqttPacketType.Pubrec
    | typeof MqttPacketType.Pubrel
    | typeof MqttPacketType.Pubcomp
    | typeof MqttPacketType.Unsuback;
  /** The packet identifier it answers. */
  packetId: number;
}

/** One filter of a SUBSCRIBE with the QoS asked for. */
export interface MqttSubscription {
  /** The topic filter, not yet validated (the server answers 0x80 for a bad one). */
  filter: string;
  /** The maximum QoS asked for. */
  qos: MqttQos;
}

/** SUBSCRIBE. */
export interface MqttSubscribe {
  /** {@linkcode MqttPacketType.Subscribe} */
  type: typeof MqttPacketType.Subscribe;
  /** Its packet identifier. */
  packetId: number;
  /** At least one filter. */
  subscriptions: MqttSubscription[];
}

/** SUBACK. */
export interface MqttSuback {
  /** {@linkcode MqttPacketType.Suback} */
  type: typeof MqttPacketType.Suback;
  /** The SUBSCRIBE's packet identifier. */
  packetId: number;
  /** Granted QoS per filter, or {@linkcode MQTT_SUBACK_FAILURE}. */
  returnCodes: number[];
}

/** UNSUBSCRIBE. */
export interface MqttUnsubscribe {
  /** {@linkcode MqttPacketType.Unsubscribe} */
  type: typeof MqttPacketType.Unsubscribe;
  /** Its packet identifier. */
  packetId: number;
  /** At least one filter. */
  filters: string[];
}

/** PINGREQ, PINGRESP and DISCONNECT: no fields. */
export interface MqttEmpty {
  /** The packet's type. */
  type:
    | typeof MqttPacketType.Pingreq
    | typeof MqttPacketType.Pingresp
    | typeof MqttPacketType.Disconnect;
}

/** Any MQTT 3.1.1 control packet. */
export type MqttPacket =
  | MqttConnect
  | MqttConnack
  | MqttPublish
  | MqttAck
  | MqttSubscribe
  | MqttSuback
  | MqttUnsubscribe
  | MqttEmpty;
