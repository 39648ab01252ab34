// Copyright mb authors. MIT license.

/**
 * Retained messages: the last message published with the retain flag on
 * each topic, handed to a new subscription whose pattern matches. MQTT
 * clients set them with the RETAIN flag and native clients with
 * `publish(..., { retain: true })`; an empty payload clears a topic.
 *
 * With a data directory the set is kept in `<dir>/retained.bin`, rewritten
 * whole (to a temporary file, then renamed) at most once per
 * `saveDelayMs` after a change and when the broker stops: like Mosquitto's
 * autosave, a crash of the process may lose the changes of that last delay.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { matchTopic } from "../protocol/topic.ts";

const logger = getLogger(["mb", "retained"]);

/** One retained message. */
export interface RetainedMessage {
  /** The topic. */
  topic: string;
  /** The encoded message section (topic, reply-to, headers, payload); owned. */
  message: Uint8Array;
  /** The QoS it was published with (0 for native publishes). */
  qos: number;
}

/** Options of {@linkcode RetainedMessages.open}. */
export interface RetainedOptions {
  /** Directory of the file; without it the set lives in memory. */
  dir?: string;
  /**
   * Most retained topics; a new topic past it is refused (logged).
   *
   * @default {1000000}
   */
  maxTopics?: number;
  /**
   * Longest wait between a change and the rewrite of the file.
   *
   * @default {1000}
   */
  saveDelayMs?: number;
}

const FILE = "retained.bin";
const MAGIC = 0x6d627231; // "mbr1"

/**
 * The broker's retained messages.
 *
 * @example
 * ```ts
 * import { RetainedMessages } from "./retained.ts";
 * import { encodeMessageSection } from "../protocol/encode.ts";
 * import assert from "node:assert/strict";
 *
 * await using retained = await RetainedMessages.open();
 * const payload = new TextEncoder().encode("22.5");
 * retained.set("sensors/kitchen", encodeMessageSection("sensors/kitchen", "", undefined, payload), 1, 4);
 * assert.deepEqual(retained.match("sensors/+").map((m) => m.topic), ["sensors/kitchen"]);
 * retained.set("sensors/kitchen", encodeMessageSection("sensors/kitchen", "", undefined, new Uint8Array()), 0, 0);
 * assert.equal(retained.size, 0);
 * ```
 */
export class RetainedMessages implements AsyncDisposable {
  #messages = new Map<string, RetainedMessage>();
  #path: string | undefined;
  #maxTopics: number;
  #saveDelayMs: number;
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();
  #refusedLogged = false;

  private constructor(path: string | undefined, options: RetainedOptions) {
    this.#path = path;
    this.#maxTopics = options.maxTopics ?? 1_000_000;
    this.#saveDelayMs = options.saveDelayMs ?? 1000;
  }

  /**
   * Opens the set, loading the file of `options.dir` when there is one.
   *
   * @param options Where and how much.
   * @returns The retained messages.
   * @throws {Error} When the file cannot be read.
   */
  static async open(options: RetainedOptions = {}): Promise<RetainedMessages> {
    const path = options.dir === undefined ? undefined : `${options.dir}/${FILE}`;
    const retained = new RetainedMessages(path, options);
    if (path !== undefined) await retained.#load(path);
    return retained;
  }

  /** How many topics hold a retained message. */
  get size(): number {
    return this.#messages.size;
  }

  /**
   * Sets (or, with an empty payload, clears) the retained message of a topic.
   *
   * @param topic The topic.
   * @param message Its encoded message section; copied.
   * @param qos The QoS it was published with.
   * @param payloadBytes Its payload's size: 0 clears the topic.
   */
  set(topic: string, message: Uint8Array, qos: number, payloadBytes: number): void {
    if (payloadBytes === 0) {
      if (!this.#messages.delete(topic)) return;
    } else {
      if (!this.#messages.has(topic) && this.#messages.size >= this.#maxTopics) {
        if (!this.#refusedLogged) {
          this.#refusedLogged = true;
          logger.warn("Retained message for {topic} not kept: the limit is {max} topics", {
            topic,
            max: this.#maxTopics,
          });
        }
        return;
      }
      this.#messages.set(topic, { topic, message: message.slice(), qos });
    }
    this.#scheduleSave();
  }

  /**
   * The retained messages whose topics match a pattern (topics starting
   * with `$` are not matched by a leading wildcard).
   *
   * @param pattern The subscription's pattern.
   * @returns The matching messages, in no particular order.
   */
  match(pattern: string): RetainedMessage[] {
    const wild = pattern.includes("+") || pattern.includes("#");
    if (!wild) {
      const one = this.#messages.get(pattern);
      return one === undefined ? [] : [one];
    }
    const out: RetainedMessage[] = [];
    for (const message of this.#messages.values()) {
      if (matchTopic(pattern, message.topic)) out.push(message);
    }
    return out;
  }

  /** Writes pending changes and stops the timer. */
  async close(): Promise<void> {
    if (this.#saveTimer !== undefined) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      this.#save();
    }
    await this.#saving;
  }

  /** Same as {@linkcode RetainedMessages.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #scheduleSave(): void {
    if (this.#path === undefined || this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#save();
    }, this.#saveDelayMs);
  }

  #save(): void {
    const path = this.#path!;
    const bytes = this.#encode();
    this.#saving = this.#saving.then(async () => {
      try {
        const temporary = `${path}.tmp`;
        await Deno.writeFile(temporary, bytes);
        await Deno.rename(temporary, path);
      } catch (error) {
        logger.error("Cannot save retained messages to {path}: {error}", { path, error });
      }
    });
  }

  /** Magic, count, then per message: u8 qos, u32 length, section. */
  #encode(): Uint8Array {
    let size = 8;
    for (const { message } of this.#messages.values()) size += 5 + message.length;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC);
    view.setUint32(4, this.#messages.size);
    let at = 8;
    for (const { message, qos } of this.#messages.values()) {
      out[at] = qos;
      view.setUint32(at + 1, message.length);
      out.set(message, at + 5);
      at += 5 + message.length;
    }
    return out;
  }

  async #load(path: string): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || view.getUint32(0) !== MAGIC) {
      logger.error("Ignoring {path}: not a retained-messages file", { path });
      return;
    }
    const count = view.getUint32(4);
    const decoder = new TextDecoder();
    let at = 8;
    for (let i = 0; i < count; i++) {
      if (at + 5 > bytes.length) break;
      const qos = bytes[at];
      const length = view.getUint32(at + 1);
      const message = bytes.slice(at + 5, at + 5 + length);
      at += 5 + length;
      if (message.length !== length || length < 2) break;
      const topicLength = (message[0] << 8) | message[1];
      const topic = decoder.decode(message.subarray(2, 2 + topicLength));
      this.#messages.set(topic, { topic, message, qos });
    }
    if (this.#messages.size !== count) {
      logger.error("{path} is cut short: kept {kept} of {count} retained messages", {
        path,
        kept: this.#messages.size,
        count,
      });
    }
  }
}
