// Copyright mb authors. MIT license.

import { getLogger } from "@logtape/logtape";
import { encodeMessageSection } from "../../protocol/encode.ts";
import type { MbError } from "../../protocol/errors.ts";
import { publishMessage } from "../publish.ts";
import type { RetainedMessages } from "../retained.ts";
import type { Router } from "../router.ts";
import type { SessionConn, SlowConsumerPolicy } from "../session.ts";
import type { DurableStore } from "../store/durable_store.ts";
import { MqttConnection } from "./mqtt_connection.ts";
import { MqttSessionState, type SavedMqttSession } from "./mqtt_session_state.ts";

const logger = getLogger(["mb", "mqtt"]);

/** Limits and parts of an {@linkcode MqttGateway}; the broker fills them. */
export interface MqttGatewayOptions {
  /** The routing core. */
  router: Router;
  /** Streams and queues (MQTT publishes are captured like any other). */
  store: DurableStore;
  /** The broker's retained messages. */
  retained: RetainedMessages;
  /** Where persistent sessions are saved (`mqtt_sessions.json`); none keeps them in memory. */
  dataDir?: string;
  /** Largest PUBLISH payload. */
  maxPayloadBytes: number;
  /** Largest packet (the decoder's limit). */
  maxPacketBytes: number;
  /** Outbound bytes buffered per connection before the slow-consumer policy. */
  maxPendingBytes: number;
  /** What happens to a slow QoS 0 consumer. */
  slowConsumer: SlowConsumerPolicy;
  /** QoS 1 and 2 messages in flight per client. */
  maxInflight: number;
  /** QoS 1 and 2 messages waiting per client (away, or window full). */
  maxQueued: number;
  /** Time a connection has to send CONNECT. */
  connectTimeoutMs: number;
  /** The broker's token, which MQTT clients give as their password. */
  token?: string;
  /** Longest wait between a change of a persistent session and its save. */
  saveDelayMs?: number;
  /** Hands out connection ids. */
  nextId(): number;
}

/** Counters of an {@linkcode MqttGateway}. */
export interface MqttStats {
  /** Open MQTT connections. */
  connections: number;
  /** Sessions held, connected or not. */
  sessions: number;
  /** Messages published by MQTT clients. */
  messagesIn: number;
  /** Messages sent to MQTT clients. */
  messagesOut: number;
  /** QoS 0 deliveries dropped for slow consumers and queued messages dropped over `maxQueued`. */
  dropped: number;
  /** Outbound bytes waiting, over open MQTT connections. */
  pendingBytes: number;
}

interface Entry {
  state: MqttSessionState;
  persistent: boolean;
  connection: MqttConnection | undefined;
}

const SESSIONS_FILE = "mqtt_sessions.json";

/**
 * The MQTT 3.1.1 side of the broker: accepts connections (TCP, TLS or
 * WebSocket), keeps sessions by client id (a new connection with an id in
 * use takes it over), publishes into the same router and store as native
 * clients, and saves persistent sessions (clean session 0) to the data
 * directory at most `saveDelayMs` after they change and when it closes.
 *
 * @example
 * ```ts
 * import { MqttGateway } from "./mqtt_gateway.ts";
 * import { Router } from "../router.ts";
 * import { RetainedMessages } from "../retained.ts";
 * import { DurableStore } from "../store/durable_store.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = await DurableStore.open();
 * await using retained = await RetainedMessages.open();
 * const gateway = await MqttGateway.open({
 *   router: new Router(), store, retained,
 *   maxPayloadBytes: 1024, maxPacketBytes: 2048, maxPendingBytes: 65536,
 *   slowConsumer: "disconnect", maxInflight: 20, maxQueued: 1000,
 *   connectTimeoutMs: 5000, nextId: () => 1,
 * });
 * assert.equal(gateway.stats().connections, 0);
 * await gateway.close();
 * ```
 */
export class MqttGateway {
  /** The gateway's options. */
  readonly options: MqttGatewayOptions;
  #connections = new Set<MqttConnection>();
  #sessions = new Map<string, Entry>();
  #path: string | undefined;
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();
  #closing = false;
  #messagesIn = 0;
  #closedStats = { messagesOut: 0, dropped: 0 };

  private constructor(options: MqttGatewayOptions) {
    this.options = options;
    this.#path = options.dataDir === undefined ? undefined : `${options.dataDir}/${SESSIONS_FILE}`;
  }

  /**
   * Creates the gateway and restores the persistent sessions saved in the
   * data directory (their subscriptions take messages again at once).
   *
   * @param options Parts and limits.
   * @returns The gateway.
   */
  static async open(options: MqttGatewayOptions): Promise<MqttGateway> {
    const gateway = new MqttGateway(options);
    await gateway.#load();
    return gateway;
  }

  /** The store MQTT publishes are captured into. */
  get store(): DurableStore {
    return this.options.store;
  }

  /** The broker's retained messages. */
  get retained(): RetainedMessages {
    return this.options.retained;
  }

  /**
   * Serves a new connection.
   *
   * @param conn Its byte streams.
   * @param label A label for logs.
   */
  accept(conn: SessionConn, label: string): void {
    if (this.#closing) {
      conn.close();
      return;
    }
    const connection = new MqttConnection(this.options.nextId(), conn, this, label);
    this.#connections.add(connection);
    connection.done.finally(() => {
      this.#connections.delete(connection);
      const stats = connection.stats();
      this.#closedStats.messagesOut += stats.messagesOut;
      this.#closedStats.dropped += stats.dropped;
    });
  }

  /**
   * A CONNECT was accepted: takes over a connection with the same client id
   * and returns the session to use.
   *
   * @param connection The new connection.
   * @param clientId Its client id.
   * @param cleanSession Whether it asked for a clean session.
   * @returns The session, and whether it was resumed.
   */
  open(
    connection: MqttConnection,
    clientId: string,
    cleanSession: boolean,
  ): { state: MqttSessionState; sessionPresent: boolean } {
    const existing = this.#sessions.get(clientId);
    existing?.connection?.takenOver();
    if (existing !== undefined && existing.persistent && !cleanSession) {
      existing.connection = connection;
      return { state: existing.state, sessionPresent: true };
    }
    if (existing !== undefined) {
      existing.state.discard();
      if (existing.persistent) this.#scheduleSave();
    }
    const entry: Entry = {
      state: this.#newState(clientId, !cleanSession),
      persistent: !cleanSession,
      connection,
    };
    this.#sessions.set(clientId, entry);
    if (entry.persistent) this.#scheduleSave();
    return { state: entry.state, sessionPresent: false };
  }

  /**
   * A connection ended: its session waits for the client (persistent) or
   * is discarded (clean).
   *
   * @param connection The connection.
   * @param state Its session.
   * @param cleanSession Whether the session was a clean one.
   */
  closed(connection: MqttConnection, state: MqttSessionState, cleanSession: boolean): void {
    const entry = this.#sessions.get(state.clientId);
    if (entry === undefined || entry.connection !== connection) return;
    entry.connection = undefined;
    if (cleanSession) {
      state.discard();
      this.#sessions.delete(state.clientId);
    } else {
      state.detach();
      this.#scheduleSave();
    }
  }

  /**
   * Publishes for an MQTT client (or its will): sets the retained message
   * when asked, then routes and captures like any publish. Topics starting
   * with `$` belong to the broker: such publishes are dropped.
   *
   * @param topic The topic.
   * @param payload The payload.
   * @param qos Its QoS.
   * @param retain The retain flag.
   * @param onStored Called once streams and queues that captured it stored it.
   * @returns `PublishResult` bits.
   */
  publish(
    topic: string,
    payload: Uint8Array,
    qos: number,
    retain: boolean,
    onStored?: (error: MbError | undefined) => void,
  ): number {
    if (topic.charCodeAt(0) === 0x24) {
      logger.debug("Dropping an MQTT publish to {topic}: '$' topics belong to the broker", {
        topic,
      });
      return 0;
    }
    this.#messagesIn++;
    const message = encodeMessageSection(topic, "", undefined, payload);
    if (retain) this.retained.set(topic, message, qos, payload.length);
    return publishMessage(
      this.options.router,
      this.options.store,
      topic,
      message,
      onStored,
      qos,
    );
  }

  /** Current counters. */
  stats(): MqttStats {
    let messagesOut = this.#closedStats.messagesOut;
    let dropped = this.#closedStats.dropped;
    let pendingBytes = 0;
    for (const connection of this.#connections) {
      const stats = connection.stats();
      messagesOut += stats.messagesOut;
      dropped += stats.dropped;
      pendingBytes += stats.pendingBytes;
    }
    for (const { state } of this.#sessions.values()) dropped += state.dropped;
    return {
      connections: this.#connections.size,
      sessions: this.#sessions.size,
      messagesIn: this.#messagesIn,
      messagesOut,
      dropped,
      pendingBytes,
    };
  }

  /**
   * Closes every connection (flushing at most `timeoutMs`; no wills) and
   * saves the persistent sessions.
   *
   * @param timeoutMs How long to wait for clients' outbound data.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#connections].map((c) => c.shutdown(timeoutMs)));
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    if (this.#path !== undefined) this.#save();
    await this.#saving;
  }

  #newState(clientId: string, persistent: boolean): MqttSessionState {
    const limits = { maxInflight: this.options.maxInflight, maxQueued: this.options.maxQueued };
    const changed = persistent ? () => this.#scheduleSave() : () => {};
    return new MqttSessionState(clientId, this.options.router, limits, changed);
  }

  #scheduleSave(): void {
    if (this.#path === undefined || this.#saveTimer !== undefined || this.#closing) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#save();
    }, this.options.saveDelayMs ?? 1000);
  }

  #save(): void {
    const path = this.#path!;
    const saved: SavedMqttSession[] = [];
    for (const entry of this.#sessions.values()) {
      if (entry.persistent) saved.push(entry.state.save());
    }
    const text = JSON.stringify({ version: 1, sessions: saved });
    this.#saving = this.#saving.then(async () => {
      try {
        const temporary = `${path}.tmp`;
        await Deno.writeTextFile(temporary, text);
        await Deno.rename(temporary, path);
      } catch (error) {
        logger.error("Cannot save MQTT sessions to {path}: {error}", { path, error });
      }
    });
  }

  async #load(): Promise<void> {
    const path = this.#path;
    if (path === undefined) return;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    let sessions: SavedMqttSession[];
    try {
      sessions = (JSON.parse(text) as { sessions: SavedMqttSession[] }).sessions;
    } catch (error) {
      logger.error("Ignoring {path}: {error}", { path, error });
      return;
    }
    for (const saved of sessions) {
      const state = this.#newState(saved.clientId, true);
      state.restore(saved);
      this.#sessions.set(saved.clientId, { state, persistent: true, connection: undefined });
    }
    if (sessions.length > 0) {
      logger.info("Restored {count} persistent MQTT sessions", { count: sessions.length });
    }
  }
}
