// Copyright mb authors. MIT license.
// What the load generator needs from one wire protocol: pre-encoded command
// bytes and a counter that walks the broker's replies without allocating.

/** The wire protocols the benchmark speaks. */
export type ProtocolName = "mb" | "nats" | "mqtt" | "redis";

/** Bytes to send and how many replies they earn. */
export interface Command {
  /** The encoded command or commands. */
  bytes: Uint8Array;
  /** Replies the broker sends for them (counted in {@linkcode WireCounter.replies}). */
  replies: number;
}

/** Options for {@linkcode Protocol.publishes}. */
export interface PublishBatchOptions {
  /**
   * Ask the broker to confirm each publish (mb only: a non-zero request id,
   * answered by an Ok frame).
   * @default {false}
   */
  confirm?: boolean;
}

/**
 * Counts what a broker sends on one connection. `feed` is called with every
 * chunk read from the socket, in order, however the stream is split; it
 * keeps only small scalar state between chunks.
 */
export interface WireCounter {
  /** Messages delivered to a subscription on this connection. */
  delivered: number;
  /**
   * Answers to this connection's own commands: handshake, subscribe,
   * confirmed publish (mb), publish replies (Redis), PONG to our PING (NATS).
   */
  replies: number;
  /** Server pings seen and not answered yet; the connection answers them. */
  pingsDue: number;
  /** Errors the broker reported. */
  errors: number;
  /** Text of the first error, or "". */
  firstError: string;
  /**
   * Consumes `buf[start, end)`.
   *
   * @param buf The read buffer (reused by the caller after this returns).
   * @param start First byte to consume.
   * @param end One past the last byte.
   */
  feed(buf: Uint8Array, start: number, end: number): void;
}

/** One broker wire protocol, as the load generator speaks it. */
export interface Protocol {
  /** The protocol's name. */
  readonly name: ProtocolName;
  /**
   * Builds a topic (subject, channel) from its levels with the protocol's
   * separator.
   *
   * @param levels The levels, e.g. `["bench", "t0001"]`.
   * @returns The topic, e.g. `bench/t0001`, `bench.t0001` or `bench:t0001`.
   */
  topic(levels: readonly string[]): string;
  /**
   * A subscription that matches every topic below `prefix`.
   *
   * @param prefix The levels in common.
   * @returns `bench/#`, `bench.>` or `bench:*`.
   */
  wildcard(prefix: readonly string[]): string;
  /**
   * What a client sends right after connecting, and the replies that say
   * the connection is ready.
   *
   * @param clientId A short name, unique among the run's connections.
   */
  handshake(clientId: string): Command;
  /**
   * Subscribes to exact topics and to wildcard patterns (from
   * {@linkcode Protocol.wildcard}).
   *
   * @param exact Exact topics.
   * @param wildcards Wildcard patterns.
   */
  subscribe(exact: readonly string[], wildcards: readonly string[]): Command;
  /**
   * Pre-encodes `count` publishes, topics taken round-robin from `topics`.
   *
   * @param topics The topics.
   * @param payload Every message's payload.
   * @param count How many messages.
   * @param options Confirmation.
   * @returns The bytes, written as they are, as often as needed.
   */
  publishes(
    topics: readonly string[],
    payload: Uint8Array,
    count: number,
    options?: PublishBatchOptions,
  ): Uint8Array;
  /** Replies the broker sends the publisher per publish when not confirming (Redis: 1). */
  readonly repliesPerPublish: number;
  /** Whether {@linkcode PublishBatchOptions.confirm} is supported. */
  readonly canConfirm: boolean;
  /** The answer to a server ping, or `undefined` when the server never pings. */
  readonly pong: Uint8Array | undefined;
  /** A fresh counter for one connection. */
  newCounter(): WireCounter;
}
