// Copyright mb authors. MIT license.

/**
 * The side of a connection that streams and queues deliver to: a session
 * implements it (a gateway may too). Calls are synchronous and queue bytes
 * in the connection's outbound batch; `message` is valid only during the
 * call.
 */
export interface DurableSink {
  /** Unique id of the connection, for logs and ownership of in-flight messages. */
  readonly id: number;
  /** `true` once the connection is closing: deliveries are refused. */
  readonly closed: boolean;
  /**
   * `true` while the connection's outbound buffer is at its limit: queues
   * then give its consumers nothing until {@linkcode DurableSink.onWritable}
   * (absent means never full).
   */
  readonly full?: boolean;
  /**
   * Queues a stream message for a reader.
   *
   * @param sid The reader's subscription id.
   * @param offset The record's offset.
   * @param timestamp When it was stored.
   * @param message The stored message section.
   * @returns `false` when the connection's outbound buffer is full (or it is
   * closed): nothing was queued, and the reader waits for
   * {@linkcode DurableSink.onWritable} before it delivers again.
   */
  streamDeliver(sid: number, offset: number, timestamp: number, message: Uint8Array): boolean;
  /**
   * Queues a queue message for a consumer or a fetch. Never refused for
   * space: prefetch bounds what a consumer holds.
   *
   * @param sid The consumer's or fetch's subscription id.
   * @param messageId The message's id.
   * @param deliveryCount Deliveries so far, this one included.
   * @param timestamp When it was stored.
   * @param message The stored message section.
   */
  queueDeliver(
    sid: number,
    messageId: number,
    deliveryCount: number,
    timestamp: number,
    message: Uint8Array,
  ): void;
  /**
   * Calls `wake` once, when the outbound buffer has drained below half of
   * its limit (or at once if it already has, or when the connection closes).
   *
   * @param wake The callback.
   */
  onWritable(wake: () => void): void;
}
