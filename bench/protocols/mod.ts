// Copyright mb authors. MIT license.

/**
 * The wire protocols the load generator speaks, by name.
 *
 * @module
 */

import { MB_PROTOCOL } from "./mb.ts";
import { MQTT_PROTOCOL } from "./mqtt.ts";
import { NATS_PROTOCOL } from "./nats.ts";
import type { Protocol, ProtocolName } from "./protocol.ts";
import { REDIS_PROTOCOL } from "./redis.ts";

export type { Command, Protocol, ProtocolName, WireCounter } from "./protocol.ts";

/** Every protocol by name. */
export const PROTOCOLS: Readonly<Record<ProtocolName, Protocol>> = {
  mb: MB_PROTOCOL,
  nats: NATS_PROTOCOL,
  mqtt: MQTT_PROTOCOL,
  redis: REDIS_PROTOCOL,
};
