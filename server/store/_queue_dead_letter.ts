// Copyright mb authors. MIT license.

/**
 * Dead-lettering: a message delivered `maxDeliver` times and nacked or not
 * acked in time is stored unchanged in the dead-letter queue (or dropped
 * with a warning when there is none), then settled.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { quote } from "../../protocol/_text.ts";
import type { MbError } from "../../protocol/errors.ts";
import type { StoredCallback } from "./_append_batcher.ts";
import type { DurableLog } from "./durable_log.ts";

const logger = getLogger(["mb", "queue"]);

/** What dead-lettering needs from the dead-letter queue. */
export interface DeadLetterTarget {
  /** Stores a message; see `Queue.enqueue`. */
  enqueue(message: Uint8Array, onStored?: StoredCallback): void;
}

/** What dead-lettering needs from its queue. */
export interface DeadLetterHost {
  /** The queue's name. */
  readonly name: string;
  /** Its `maxDeliver`, for logs. */
  readonly maxDeliver: number;
  /** Name of its dead-letter queue, if any. */
  readonly deadLetter: string | undefined;
  /** Its messages log, to read a body not at hand. */
  readonly messages: DurableLog;
  /** Finds a queue by name. */
  readonly resolveQueue: ((name: string) => DeadLetterTarget | undefined) | undefined;
  /** Settles the message and records it; `done` once stored. */
  settle(id: number, size: number, done: (error: MbError | undefined) => void): void;
  /** Dead-lettering failed: make the message ready again later. */
  retry(id: number, size: number): void;
  /** Registers background work the queue waits for at close. */
  track(task: Promise<unknown>): void;
}

/** The dead-lettering of one queue. */
export class DeadLetters {
  readonly #host: DeadLetterHost;
  /** Ids being moved, with their sizes; they are still unsettled. */
  readonly #moving = new Map<number, number>();
  /** Messages dead-lettered (or dropped) since open. */
  count = 0;

  /** @param host The queue. */
  constructor(host: DeadLetterHost) {
    this.#host = host;
  }

  /** Bytes of the messages being moved. */
  bytes(): number {
    let bytes = 0;
    for (const size of this.#moving.values()) bytes += size;
    return bytes;
  }

  /**
   * Moves a message to the dead-letter queue (or drops it), then settles
   * it. Never rejects: a failure makes the message ready again later.
   *
   * @param id The message.
   * @param size Bytes it counts for.
   * @param body Its bytes, if at hand (copied during the call); read from
   * the log otherwise.
   */
  send(id: number, size: number, body?: Uint8Array): Promise<void> {
    this.#moving.set(id, size);
    const host = this.#host;
    const task = body !== undefined ? this.#send(id, size, body) : host.messages
      .read(id, { maxRecords: 1 })
      .then(
        (records) => this.#send(id, size, records[0]?.offset === id ? records[0].body : undefined),
        (error) => {
          logger.error("Queue {queue} cannot read message {id} to dead-letter it: {error}", {
            queue: host.name,
            id,
            error,
          });
          this.#failed(id, size);
        },
      );
    host.track(task);
    return task;
  }

  #send(id: number, size: number, body: Uint8Array | undefined): Promise<void> {
    const host = this.#host;
    const name = host.deadLetter;
    const target = body === undefined || name === undefined ? undefined : host.resolveQueue?.(name);
    if (body === undefined || target === undefined) {
      const why = body === undefined
        ? "it is no longer in the log"
        : name === undefined
        ? "no dead-letter queue is configured"
        : `dead-letter queue ${quote(name)} does not exist`;
      logger.warn("Queue {queue} dropped message {id} after {count} deliveries: {why}", {
        queue: host.name,
        id,
        count: host.maxDeliver,
        why,
      });
      return this.#done(id, size);
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    target.enqueue(body, (error) => {
      if (error === undefined) {
        this.#done(id, size).then(resolve);
        return;
      }
      logger.error("Queue {queue} cannot dead-letter message {id} into {target}: {error}", {
        queue: host.name,
        id,
        target: name,
        error,
      });
      this.#failed(id, size);
      resolve();
    });
    return promise;
  }

  #done(id: number, size: number): Promise<void> {
    this.#moving.delete(id);
    this.count++;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#host.settle(id, size, (error) => {
      if (error !== undefined) {
        logger.warn("Queue {queue} cannot record dead-lettered message {id}: {error}", {
          queue: this.#host.name,
          id,
          error,
        });
      }
      resolve();
    });
    return promise;
  }

  #failed(id: number, size: number): void {
    this.#moving.delete(id);
    this.#host.retry(id, size);
  }
}
