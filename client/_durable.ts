// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * What the stream and queue APIs need from their client: requests answered
 * by Ok frames, sids for queue deliveries, and the JSON commands built on
 * them.
 *
 * @module
 */

import { nameProblem } from "../protocol/durable.ts";
import { MbError } from "../protocol/errors.ts";
import { type Frame, FrameType, type QueueDeliverFrame } from "../protocol/frames.ts";
import { Job, type JobSettler } from "./job.ts";
import type { Responder } from "./message.ts";

/** Receives the queue deliveries sent to one sid: a consumer or a fetch. */
export interface JobReceiver {
  /** Takes one delivery. */
  deliver(frame: QueueDeliverFrame): void;
  /** Ends it: the client closed, or the broker refused it. */
  end(error?: MbError): void;
  /** Starts it again on a new connection (consumers only). */
  restart?(): void;
  /** Stops it on the broker, as `Client.drain` does (consumers only). */
  close?(): Promise<void>;
}

/** The client, as `Streams`, `Queues`, `QueueConsumer` and `Job` see it. */
export interface DurableCore extends JobSettler, Responder {
  /**
   * Settles jobs of the current connection only: after a reconnect, a job
   * received before is refused locally (`MESSAGE_UNKNOWN`), since the broker
   * delivers it again and an ack of the old copy would settle the new one.
   */
  connectionSettler(): JobSettler;
  /** The largest payload the broker takes, when known. */
  payloadLimit(): number | undefined;
  /**
   * Throws `CONNECTION_CLOSED` after close, and `INVALID_ARGUMENT` when the
   * broker serves no streams and queues.
   *
   * @param action What the caller was doing, for the message ("create stream \"x\"").
   */
  assertDurable(action: string): void;
  /**
   * Appends the frame `build` makes around a fresh request id.
   *
   * @returns Resolves with the Ok frame's result; rejects with the error
   * frame's `MbError`, or `CONNECTION_CLOSED`.
   */
  request(build: (requestId: number) => Frame): Promise<Uint8Array>;
  /** Registers a receiver under a fresh sid, which it returns. */
  attach(receiver: JobReceiver): number;
  /** Forgets a receiver (without telling the broker). */
  detach(sid: number): void;
  /** Forgets a receiver and tells the broker to stop sending to it. */
  unsubscribe(sid: number): Promise<void>;
}

const decoder = new TextDecoder();

/**
 * Runs a Command frame and parses its JSON result.
 *
 * @param core The client.
 * @param action What is done, for error messages.
 * @param op The operation, like `"stream.create"`.
 * @param args Its arguments.
 * @returns The parsed result.
 */
export function runCommand(
  core: DurableCore,
  action: string,
  op: string,
  args: unknown,
): Promise<unknown> {
  try {
    core.assertDurable(action);
  } catch (error) {
    return Promise.reject(error);
  }
  return core.request((requestId) => ({ type: FrameType.Command, requestId, op, args }))
    .then((result) => {
      if (result.length === 0) return undefined;
      try {
        return JSON.parse(decoder.decode(result));
      } catch (cause) {
        throw new MbError("FRAME_MALFORMED", `Cannot ${action}: the result is not JSON`, {
          cause,
        });
      }
    });
}

/**
 * Runs a command whose only argument is a stream's or queue's name, after
 * checking the name locally.
 *
 * @param core The client.
 * @param op The operation, like `"queue.info"`.
 * @param name The stream or queue.
 * @param action What the caller does, for error messages.
 * @returns The parsed result.
 */
export function runNamedCommand(
  core: DurableCore,
  op: string,
  name: string,
  action: string,
): Promise<unknown> {
  try {
    checkName(name, action);
  } catch (error) {
    return Promise.reject(error);
  }
  return runCommand(core, action, op, { name });
}

/**
 * Makes a {@linkcode Job} of a queue delivery, copying a small payload out
 * of a large read buffer so that a job waiting for its ack does not pin it.
 *
 * @param frame The delivery.
 * @param queue The queue it came from.
 * @param core Who acks it and sends replies.
 * @returns The job.
 */
export function jobFromFrame(frame: QueueDeliverFrame, queue: string, core: DurableCore): Job {
  let payload = frame.payload;
  let headers = frame.headers;
  if (payload.buffer.byteLength > 8 * (payload.length + 256)) {
    payload = payload.slice();
    headers = headers?.slice();
  }
  return new Job(frame.topic, payload, {
    queue,
    id: frame.messageId,
    deliveryCount: frame.deliveryCount,
    timestamp: frame.timestamp,
    replyTo: frame.replyTo,
    headerBlock: headers,
    responder: core,
    settler: core.connectionSettler(),
  });
}

/**
 * Throws `INVALID_ARGUMENT` when `name` is not a valid stream or queue name.
 *
 * @param name The name.
 * @param action What is done with it, for the message.
 */
export function checkName(name: string, action: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new MbError("INVALID_ARGUMENT", `Cannot ${action}: invalid name: ${problem}`);
  }
}

/**
 * The count in a purge result (`{ purged: n }`).
 *
 * @param result The parsed result.
 * @returns The count.
 */
export function purgedCount(result: unknown): number {
  const purged = (result as { purged?: unknown } | undefined)?.purged;
  return typeof purged === "number" ? purged : 0;
}
