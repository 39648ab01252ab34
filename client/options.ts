// Copyright mb authors. MIT license.
// This module is browser compatible.

import type { MbError } from "../protocol/errors.ts";

/** A change in the connection's state, for {@linkcode ConnectOptions.onStatus}. */
export type StatusEvent =
  | { type: "disconnect"; server: string; error?: Error }
  | { type: "reconnecting"; server: string; attempt: number; delayMs: number }
  | { type: "reconnect"; server: string }
  | { type: "error"; error: Error }
  | { type: "close"; error?: MbError };

/** Options for `connect()`. */
export interface ConnectOptions {
  /** A name for this client in the broker's logs. */
  name?: string;
  /** A token, when the broker requires one. */
  token?: string;
  /** Extra trust anchors (PEM) for `tls:` servers with private certificates. */
  caCerts?: string[];
  /**
   * Reconnect after losing the connection, trying every server URL in turn
   * with exponential backoff, and restore subscriptions.
   *
   * @default {true}
   */
  reconnect?: boolean;
  /**
   * Attempts before giving up; `Infinity` never gives up.
   *
   * @default {Infinity}
   */
  maxReconnectAttempts?: number;
  /**
   * First reconnect delay; it doubles per attempt, with jitter.
   *
   * @default {100}
   */
  reconnectDelayMs?: number;
  /**
   * Longest reconnect delay.
   *
   * @default {5000}
   */
  maxReconnectDelayMs?: number;
  /**
   * Time allowed to open a connection and finish the handshake.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * How often an idle connection is pinged; two unanswered pings mark it
   * dead and start a reconnect.
   *
   * @default {30000}
   */
  pingIntervalMs?: number;
  /**
   * Bytes of publishes held while reconnecting; beyond it publishing fails
   * with `CONNECTION_CLOSED`.
   *
   * @default {8388608}
   */
  reconnectBufferBytes?: number;
  /** Called on every connection state change. */
  onStatus?: (event: StatusEvent) => void;
}

/** Options for {@linkcode Client.publish}. */
export interface PublishOptions {
  /** Message headers. */
  headers?: Record<string, string>;
  /** Where replies should go. */
  replyTo?: string;
  /**
   * Resolve only once the broker has accepted the message (and rejected with
   * its error otherwise).
   *
   * @default {false}
   */
  confirm?: boolean;
}

/** Options for {@linkcode Client.request}. */
export interface RequestOptions {
  /** Request headers. */
  headers?: Record<string, string>;
  /**
   * Time to wait for the reply.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /** Cancels the request. */
  signal?: AbortSignal;
}
