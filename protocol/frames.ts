// Copyright mb authors. MIT license.
// This module is browser compatible.

/** The protocol version this module speaks, sent in the handshake. */
export const PROTOCOL_VERSION = 1;

/** Default largest payload a publish may carry: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Longest topic or pattern, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 1024;

/** Largest encoded header block, in bytes. */
export const MAX_HEADER_BYTES = 65535;

/**
 * The most bytes a message frame holds besides its payload: the length and
 * type, a request or subscription id, the topic and reply-to with their
 * lengths, and the header block with its length.
 */
export const MAX_FRAME_OVERHEAD: number = 4 + 1 + 4 + 2 + MAX_TOPIC_BYTES + 2 +
  MAX_TOPIC_BYTES + 2 + MAX_HEADER_BYTES;

/** Default largest frame (length field value) a decoder accepts. */
export const DEFAULT_MAX_FRAME_BYTES: number = DEFAULT_MAX_PAYLOAD_BYTES +
  MAX_FRAME_OVERHEAD;

/**
 * Frame kinds, one byte on the wire: 1 to 11 for core pub/sub, 0x10 and up
 * (to 0x3f) for the durable operations (streams, queues, fetch, ack); see
 * `PROTOCOL.md`.
 *
 * @example
 * ```ts
 * import { FrameType } from "./frames.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(FrameType.Publish, 3);
 * ```
 */
export const FrameType = {
  Hello: 1,
  Info: 2,
  Publish: 3,
  Subscribe: 4,
  Unsubscribe: 5,
  Deliver: 6,
  Ok: 7,
  Error: 8,
  Ping: 9,
  Pong: 10,
  Goodbye: 11,
  Command: 0x10,
  StreamSubscribe: 0x11,
  StreamDeliver: 0x12,
  Credit: 0x13,
  QueueConsume: 0x14,
  QueueDeliver: 0x15,
  Ack: 0x16,
  Fetch: 0x17,
  QueueSend: 0x18,
} as const;

/** One of the values of {@linkcode FrameType}. */
export type FrameType = typeof FrameType[keyof typeof FrameType];

/** Client to server, first frame: who the client is. */
export interface HelloFrame {
  /** {@linkcode FrameType.Hello} */
  type: typeof FrameType.Hello;
  /** The protocol version the client speaks. */
  version: number;
  /** Handshake fields, JSON on the wire. */
  hello: HelloFields;
}

/** The JSON part of a hello frame. */
export interface HelloFields {
  /** The client's name, for logs and monitoring. */
  name?: string;
  /** A token for authentication, when the server asks for one. */
  token?: string;
  /** Client library and version, for example `"mb.ts/0.1.0"`. */
  lang?: string;
}

/** Server to client, the answer to a hello frame. */
export interface InfoFrame {
  /** {@linkcode FrameType.Info} */
  type: typeof FrameType.Info;
  /** The protocol version the server speaks. */
  version: number;
  /** Server description and limits, JSON on the wire. */
  info: ServerInfo;
}

/** What a server tells about itself in its info frame. */
export interface ServerInfo {
  /** Unique id of this server process. */
  serverId: string;
  /** Server software version. */
  serverVersion: string;
  /** Id the server gave this connection. */
  clientId: number;
  /** Largest payload a publish may carry. */
  maxPayloadBytes: number;
  /** Largest frame the server accepts (the length field value). */
  maxFrameBytes: number;
  /** Most subscriptions one connection may hold. */
  maxSubscriptions: number;
  /** How often the server pings an idle connection, in milliseconds. */
  pingIntervalMs: number;
  /**
   * Where streams and queues live: `"disk"`, or `"memory"` when the broker
   * runs without a data directory. Absent: the broker serves no durable
   * operations.
   */
  store?: "disk" | "memory";
}

/** Client to server: publish a message. */
export interface PublishFrame {
  /** {@linkcode FrameType.Publish} */
  type: typeof FrameType.Publish;
  /** Non-zero asks the server to confirm with an ok (or error) frame. */
  requestId: number;
  /** The topic; never a wildcard. */
  topic: string;
  /** Where replies go; empty for none. */
  replyTo: string;
  /** The encoded header block (see `encodeHeaders`), or `undefined`. */
  headers: Uint8Array | undefined;
  /** The payload. */
  payload: Uint8Array;
  /**
   * Set by the decoder: the message section of the frame (topic, reply-to,
   * headers, payload) as one view, which a deliver frame carries unchanged.
   */
  message?: Uint8Array;
}

/** Client to server: start a subscription. */
export interface SubscribeFrame {
  /** {@linkcode FrameType.Subscribe} */
  type: typeof FrameType.Subscribe;
  /** Non-zero asks for an ok (or error) frame. */
  requestId: number;
  /** The client's id for this subscription, unique on the connection. */
  sid: number;
  /** The topic pattern, with `+` and `#` allowed. */
  pattern: string;
  /** The queue group; empty for none. */
  queue: string;
}

/** Client to server: end a subscription. */
export interface UnsubscribeFrame {
  /** {@linkcode FrameType.Unsubscribe} */
  type: typeof FrameType.Unsubscribe;
  /** Non-zero asks for an ok (or error) frame. */
  requestId: number;
  /** The subscription to end. */
  sid: number;
}

/** Server to client: a message for a subscription. */
export interface DeliverFrame {
  /** {@linkcode FrameType.Deliver} */
  type: typeof FrameType.Deliver;
  /** The subscription this message matched. */
  sid: number;
  /** The topic it was published to. */
  topic: string;
  /** Where replies go; empty for none. */
  replyTo: string;
  /** The encoded header block, or `undefined`. */
  headers: Uint8Array | undefined;
  /** The payload. */
  payload: Uint8Array;
}

/** Server to client: a request succeeded. */
export interface OkFrame {
  /** {@linkcode FrameType.Ok} */
  type: typeof FrameType.Ok;
  /** The request this answers. */
  requestId: number;
  /** Operation-specific result bytes; empty for core operations. */
  result: Uint8Array;
}

/** Either way: something failed. */
export interface ErrorFrame {
  /** {@linkcode FrameType.Error} */
  type: typeof FrameType.Error;
  /** The request this answers, or 0 for the connection as a whole. */
  requestId: number;
  /** A stable error code (see `MbErrorCode`). */
  code: string;
  /** A human-readable message. */
  message: string;
}

/** Either way: are you alive? */
export interface PingFrame {
  /** {@linkcode FrameType.Ping} */
  type: typeof FrameType.Ping;
}

/** Either way: the answer to a ping. */
export interface PongFrame {
  /** {@linkcode FrameType.Pong} */
  type: typeof FrameType.Pong;
}

/** Either way: the sender is closing the connection cleanly. */
export interface GoodbyeFrame {
  /** {@linkcode FrameType.Goodbye} */
  type: typeof FrameType.Goodbye;
  /** Why, for example `"server shutting down"`; may be empty. */
  reason: string;
}

/** Client to server: an administrative operation with JSON arguments. */
export interface CommandFrame {
  /** {@linkcode FrameType.Command} */
  type: typeof FrameType.Command;
  /** Non-zero; the ok frame carries the JSON result. */
  requestId: number;
  /** The operation, like `"stream.create"` (see `PROTOCOL.md`). */
  op: string;
  /** The operation's arguments, JSON on the wire. */
  args: unknown;
}

/** Where a stream reader starts. */
export type StreamStart =
  | { kind: "new" }
  | { kind: "first" }
  | { kind: "last" }
  | { kind: "offset"; value: number }
  | { kind: "time"; value: number };

/**
 * Stream start kinds in wire order: the byte of a stream subscribe frame is
 * the index into this list.
 */
export const START_KINDS: readonly StreamStart["kind"][] = [
  "new",
  "first",
  "last",
  "offset",
  "time",
];

/** Client to server: read a stream from a position, then live. */
export interface StreamSubscribeFrame {
  /** {@linkcode FrameType.StreamSubscribe} */
  type: typeof FrameType.StreamSubscribe;
  /** Non-zero asks for an ok (or error) frame. */
  requestId: number;
  /** The client's id for this reader, shared with core subscriptions. */
  sid: number;
  /** The stream's name. */
  stream: string;
  /** Only messages whose topic matches; empty for all. */
  pattern: string;
  /** Where to start. */
  start: StreamStart;
  /** Messages the server may send before the client grants more credit. */
  credit: number;
}

/** Server to client: a stream message with its offset. */
export interface StreamDeliverFrame {
  /** {@linkcode FrameType.StreamDeliver} */
  type: typeof FrameType.StreamDeliver;
  /** The reader. */
  sid: number;
  /** The message's offset in the stream. */
  offset: number;
  /** When the stream stored it, in milliseconds since the epoch. */
  timestamp: number;
  /** The topic it was published to. */
  topic: string;
  /** Where replies go; empty for none. */
  replyTo: string;
  /** The encoded header block, or `undefined`. */
  headers: Uint8Array | undefined;
  /** The payload. */
  payload: Uint8Array;
}

/** Client to server: let a stream reader or queue consumer receive more. */
export interface CreditFrame {
  /** {@linkcode FrameType.Credit} */
  type: typeof FrameType.Credit;
  /** The reader or consumer. */
  sid: number;
  /** Messages added to its credit. */
  credit: number;
}

/** Client to server: consume a queue (push). */
export interface QueueConsumeFrame {
  /** {@linkcode FrameType.QueueConsume} */
  type: typeof FrameType.QueueConsume;
  /** Non-zero asks for an ok (or error) frame. */
  requestId: number;
  /** The client's id for this consumer. */
  sid: number;
  /** The queue. */
  queue: string;
  /** Most unacknowledged messages this consumer holds at once. */
  prefetch: number;
}

/** Server to client: a queue message for a consumer or a fetch. */
export interface QueueDeliverFrame {
  /** {@linkcode FrameType.QueueDeliver} */
  type: typeof FrameType.QueueDeliver;
  /** The consumer, or the fetch's sid. */
  sid: number;
  /** The message's id in its queue, for ack and nack. */
  messageId: number;
  /** How many times it has been delivered, this time included. */
  deliveryCount: number;
  /** When the queue stored it, in milliseconds since the epoch. */
  timestamp: number;
  /** The topic it was published to (the queue's name for a direct send). */
  topic: string;
  /** Where replies go; empty for none. */
  replyTo: string;
  /** The encoded header block, or `undefined`. */
  headers: Uint8Array | undefined;
  /** The payload. */
  payload: Uint8Array;
}

/** What an ack frame does. */
export const AckAction = {
  /** Done: remove the message. */
  Ack: 0,
  /** Not done: deliver it again (after a delay). */
  Nack: 1,
} as const;

/** One of the values of {@linkcode AckAction}. */
export type AckAction = typeof AckAction[keyof typeof AckAction];

/** Client to server: settle a queue message. */
export interface AckFrame {
  /** {@linkcode FrameType.Ack} */
  type: typeof FrameType.Ack;
  /** Non-zero asks for an ok (or error) frame. */
  requestId: number;
  /** The queue. */
  queue: string;
  /** The message. */
  messageId: number;
  /** Ack or nack. */
  action: AckAction;
  /** For a nack: wait this long before redelivering. */
  delayMs: number;
}

/** Client to server: pull up to `max` queue messages (long poll). */
export interface FetchFrame {
  /** {@linkcode FrameType.Fetch} */
  type: typeof FrameType.Fetch;
  /** Non-zero; the ok frame ends the fetch. */
  requestId: number;
  /** The sid the deliveries of this fetch carry. */
  sid: number;
  /** The queue. */
  queue: string;
  /** Most messages to return. */
  max: number;
  /** How long to wait for the first message. */
  waitMs: number;
}

/** Client to server: put a message on a queue directly. */
export interface QueueSendFrame {
  /** {@linkcode FrameType.QueueSend} */
  type: typeof FrameType.QueueSend;
  /** Non-zero asks for an ok (or error) frame once stored. */
  requestId: number;
  /** The queue. */
  queue: string;
  /** A topic to record with the message; empty for the queue's name. */
  topic: string;
  /** Where replies go; empty for none. */
  replyTo: string;
  /** The encoded header block, or `undefined`. */
  headers: Uint8Array | undefined;
  /** The payload. */
  payload: Uint8Array;
}

/** Any frame of the protocol. */
export type Frame =
  | HelloFrame
  | InfoFrame
  | PublishFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | DeliverFrame
  | OkFrame
  | ErrorFrame
  | PingFrame
  | PongFrame
  | GoodbyeFrame
  | CommandFrame
  | StreamSubscribeFrame
  | StreamDeliverFrame
  | CreditFrame
  | QueueConsumeFrame
  | QueueDeliverFrame
  | AckFrame
  | FetchFrame
  | QueueSendFrame;
