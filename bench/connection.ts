// Copyright mb authors. MIT license.
// One connection of the load generator: writes pre-encoded bytes and feeds
// what the broker sends to a protocol's WireCounter. Raw TCP
// (`TcpConnection`), or a WebSocket carrying the same bytes
// (`WebSocketConnection`, bench/ws_connection.ts).

import type { Command, WireCounter } from "./protocols/mod.ts";

/** Bytes asked for per read; large enough for several 64 KiB messages. */
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * What a connection needs to know about the bytes it carries: a counter for
 * them, the answer to a server ping, and the handshake sent first (none for
 * HTTP). Every `Protocol` is one.
 */
export interface Endpoint {
  /** A fresh counter for one connection. */
  newCounter(): WireCounter;
  /** The answer to a server ping, or `undefined` when the server never pings. */
  readonly pong: Uint8Array | undefined;
  /** What to send right after connecting, and the replies that say the connection is ready. */
  handshake?(clientId: string): Command;
}

/** Options for {@linkcode TcpConnection.open}. */
export interface OpenOptions {
  /** Host to connect to. */
  host: string;
  /** Port to connect to. */
  port: number;
  /** Client name, unique in the run (MQTT client ids: at most 23 bytes). */
  clientId: string;
  /** How long to wait for the handshake's replies, in milliseconds. */
  timeoutMs: number;
}

/**
 * A load-generator connection to a broker. Counts live in
 * {@linkcode BenchConnection.counter}; listeners run after every read, so
 * waiting code sees progress without a promise per message.
 */
export abstract class BenchConnection {
  /** What the broker sent so far. */
  readonly counter: WireCounter;
  /** Why the connection ended early, or `undefined` while it is fine. */
  failure: string | undefined;
  /** Resolves when the connection has ended (read loop over, or socket closed). */
  abstract readonly done: Promise<void>;
  #endpoint: Endpoint;
  #name: string;
  #listeners: (() => void)[] = [];

  /**
   * @param endpoint What the connection carries.
   * @param name Client name, for messages.
   */
  protected constructor(endpoint: Endpoint, name: string) {
    this.#endpoint = endpoint;
    this.#name = name;
    this.counter = endpoint.newCounter();
  }

  /** The client name the connection was opened with. */
  get name(): string {
    return this.#name;
  }

  /**
   * Adds a function called after every read (and when the connection ends).
   *
   * @param listener The function.
   */
  addListener(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Writes all of `bytes`.
   *
   * @param bytes The bytes; not kept, and may be written again later.
   * @returns Resolves when the bytes are handed to the transport.
   */
  abstract write(bytes: Uint8Array): Promise<void>;

  /** Closes the connection; it then ends without a failure. */
  abstract close(): void;

  /**
   * Sends the endpoint's handshake, if it has one, and waits for its replies.
   *
   * @param timeoutMs Deadline.
   * @throws {Error} When the handshake fails; the connection is closed then.
   */
  protected async greet(timeoutMs: number): Promise<void> {
    const handshake = this.#endpoint.handshake?.(this.#name);
    if (handshake === undefined) return;
    try {
      await this.write(handshake.bytes);
      await this.waitReplies(handshake.replies, timeoutMs, "handshake");
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * Counts `buf[start, end)`, answers pings, and wakes the listeners.
   *
   * @param buf Bytes from the broker.
   * @param start First byte.
   * @param end One past the last byte.
   */
  protected received(buf: Uint8Array, start: number, end: number): void {
    const counter = this.counter;
    counter.feed(buf, start, end);
    const pong = this.#endpoint.pong;
    if (counter.pingsDue > 0 && pong !== undefined) {
      counter.pingsDue = 0;
      this.write(pong).catch(() => {});
    }
    this.notify();
  }

  /** Runs the listeners. */
  protected notify(): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]();
  }

  /**
   * Waits until the broker has sent `count` replies in all.
   *
   * @param count Total replies to wait for.
   * @param timeoutMs Deadline.
   * @param what What the replies answer, for the error message.
   * @throws {Error} On timeout, on an error from the broker, or when the
   * connection ends.
   */
  waitReplies(count: number, timeoutMs: number, what: string): Promise<void> {
    const counter = this.counter;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = () => {
        settled = true;
        clearTimeout(timer);
        this.#listeners = this.#listeners.filter((listener) => listener !== check);
      };
      const check = () => {
        if (settled) return;
        const problem = this.failure ??
          (counter.errors > 0 ? `broker error: ${counter.firstError}` : undefined);
        if (problem !== undefined) {
          settle();
          reject(new Error(`${this.#name}: ${what} failed: ${problem}`));
        } else if (counter.replies >= count) {
          settle();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        if (settled) return;
        settle();
        reject(
          new Error(
            `${this.#name}: timed out after ${timeoutMs} ms waiting for ${what} ` +
              `(${counter.replies} of ${count} replies)`,
          ),
        );
      }, timeoutMs);
      this.#listeners.push(check);
      check();
    });
  }
}

/**
 * A raw TCP connection (`Deno.connect`), read into one reused buffer.
 *
 * @example
 * ```ts ignore
 * const conn = await TcpConnection.open(PROTOCOLS.nats, {
 *   host: "127.0.0.1", port: 4222, clientId: "sub-0", timeoutMs: 5000,
 * });
 * const sub = PROTOCOLS.nats.subscribe(["bench.t"], []);
 * await conn.write(sub.bytes);
 * await conn.waitReplies(sub.replies, 5000, "SUB");
 * ```
 */
export class TcpConnection extends BenchConnection {
  readonly done: Promise<void>;
  #conn: Deno.TcpConn;
  #closing = false;
  #writing: Promise<void> = Promise.resolve();

  private constructor(conn: Deno.TcpConn, endpoint: Endpoint, name: string) {
    super(endpoint, name);
    this.#conn = conn;
    this.done = this.#readLoop();
  }

  /**
   * Connects, sends the endpoint's handshake and waits for its replies.
   *
   * @param endpoint The wire protocol (or HTTP, without a handshake).
   * @param options Where to connect and the client name.
   * @returns The open connection.
   * @throws {Error} When the connection or the handshake fails.
   */
  static async open(endpoint: Endpoint, options: OpenOptions): Promise<TcpConnection> {
    const conn = await Deno.connect({ hostname: options.host, port: options.port });
    conn.setNoDelay(true);
    const connection = new TcpConnection(conn, endpoint, options.clientId);
    await connection.greet(options.timeoutMs);
    return connection;
  }

  /**
   * Writes all of `bytes`, however many writes the socket needs.
   *
   * @param bytes The bytes; not copied, and may be written again later.
   * @returns Resolves when the kernel took every byte.
   */
  write(bytes: Uint8Array): Promise<void> {
    // Chained, so that a partial write is never interleaved with another.
    const next = this.#writing.then(() => this.#writeAll(bytes));
    this.#writing = next.catch(() => {});
    return next;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = await this.#conn.write(bytes);
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /** Closes the socket; the read loop then ends without a failure. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) {
          if (!this.#closing) this.failure = "connection closed by the broker";
          break;
        }
        this.received(buf, 0, n);
      }
    } catch (error) {
      if (!this.#closing) this.failure = `read failed: ${error}`;
    }
    this.notify();
  }
}
