// Copyright mb authors. MIT license.
// This module is browser compatible.

import type { StreamConfig, StreamInfo } from "../protocol/durable.ts";
import { MbError } from "../protocol/errors.ts";
import { patternProblem } from "../protocol/topic.ts";
import {
  checkName,
  type DurableCore,
  purgedCount,
  runCommand,
  runNamedCommand,
} from "./_durable.ts";

/**
 * Stream administration, as `mb.streams`: create, inspect, list, purge and
 * delete the broker's streams. A stream keeps every message published to
 * its topics (within its limits); read it with
 * `mb.subscribe(pattern, { stream, from })`.
 *
 * Every method rejects with `INVALID_ARGUMENT` without asking the broker
 * when the name is not valid (see `nameProblem`) or the broker runs
 * without a store.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@x/mb";
 *
 * await using mb = await connect("mb://127.0.0.1:4150");
 * await mb.streams.create({ name: "orders", topics: ["orders/#"], maxAgeMs: 86_400_000 });
 * const offset = await mb.publish("orders/new", "{}", { confirm: true });
 * const info = await mb.streams.info("orders");
 * console.log(offset, info.messages);
 * ```
 */
export class Streams {
  #core: DurableCore;

  /**
   * Created by the client; use `mb.streams`.
   *
   * @param core The client.
   */
  constructor(core: DurableCore) {
    this.#core = core;
  }

  /**
   * Creates a stream. Creating one that exists with the same configuration
   * returns it; with a different one, fails with `ALREADY_EXISTS`.
   *
   * @param config Name, topics and limits.
   * @returns The new stream's info.
   * @throws {MbError} `INVALID_ARGUMENT` for a bad name or limit,
   * `TOPIC_INVALID` for a bad topic pattern, `ALREADY_EXISTS`,
   * `STORAGE_FAILED`.
   *
   * @example
   * ```ts ignore
   * const info = await mb.streams.create({ name: "audit", topics: ["audit/#"] });
   * ```
   */
  create(config: StreamConfig): Promise<StreamInfo> {
    const action = `create stream ${JSON.stringify(config?.name)}`;
    try {
      checkName(config?.name, action);
      if (!Array.isArray(config.topics) || config.topics.length === 0) {
        throw new MbError("INVALID_ARGUMENT", `Cannot ${action}: give at least one topic`);
      }
      for (const topic of config.topics) {
        const problem = patternProblem(topic);
        if (problem !== undefined) {
          throw new MbError(
            "TOPIC_INVALID",
            `Cannot ${action}: invalid topic ${JSON.stringify(topic)}: ${problem}`,
          );
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return runCommand(this.#core, action, "stream.create", config) as Promise<StreamInfo>;
  }

  /**
   * Describes a stream.
   *
   * @param name The stream.
   * @returns Its configuration and state.
   * @throws {MbError} `STREAM_UNKNOWN`.
   *
   * @example
   * ```ts ignore
   * const { messages, firstOffset, nextOffset } = await mb.streams.info("orders");
   * ```
   */
  info(name: string): Promise<StreamInfo> {
    return this.#named("stream.info", name, `describe stream ${JSON.stringify(name)}`) as Promise<
      StreamInfo
    >;
  }

  /**
   * Lists the streams.
   *
   * @returns Every stream's info.
   *
   * @example
   * ```ts ignore
   * for (const stream of await mb.streams.list()) console.log(stream.name, stream.messages);
   * ```
   */
  list(): Promise<StreamInfo[]> {
    return runCommand(this.#core, "list streams", "stream.list", {}) as Promise<StreamInfo[]>;
  }

  /**
   * Deletes a stream and everything it holds. Its readers end.
   *
   * @param name The stream.
   * @returns Resolves when it is gone.
   * @throws {MbError} `STREAM_UNKNOWN`.
   *
   * @example
   * ```ts ignore
   * await mb.streams.delete("orders");
   * ```
   */
  delete(name: string): Promise<void> {
    return this.#named("stream.delete", name, `delete stream ${JSON.stringify(name)}`)
      .then(ignore);
  }

  /**
   * Removes every message from a stream; its offsets keep counting from
   * where they were.
   *
   * @param name The stream.
   * @returns How many messages were removed.
   * @throws {MbError} `STREAM_UNKNOWN`.
   *
   * @example
   * ```ts ignore
   * const removed = await mb.streams.purge("orders");
   * ```
   */
  purge(name: string): Promise<number> {
    return this.#named("stream.purge", name, `purge stream ${JSON.stringify(name)}`)
      .then(purgedCount);
  }

  #named(op: string, name: string, action: string): Promise<unknown> {
    return runNamedCommand(this.#core, op, name, action);
  }
}

function ignore(): void {}
