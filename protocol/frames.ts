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
 * Frame kinds, one byte on the wire. 0x10 to 0x3f are reserved for the durable
 * operations (streams, queues, fetch, ack); see `PROTOCOL.md`.
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
  | GoodbyeFrame;
