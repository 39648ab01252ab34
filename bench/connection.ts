// Copyright mb authors. MIT license.
// One raw TCP connection of the load generator: writes pre-encoded bytes,
// reads into one reused buffer, and feeds a protocol's WireCounter.

import type { Protocol, WireCounter } from "./protocols/mod.ts";

/** Bytes asked for per read; large enough for several 64 KiB messages. */
const READ_BUFFER_BYTES = 256 * 1024;

/** Options for {@linkcode BenchConnection.open}. */
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
 *
 * @example
 * ```ts ignore
 * const conn = await BenchConnection.open(PROTOCOLS.nats, {
 *   host: "127.0.0.1", port: 4222, clientId: "sub-0", timeoutMs: 5000,
 * });
 * const sub = PROTOCOLS.nats.subscribe(["bench.t"], []);
 * await conn.write(sub.bytes);
 * await conn.waitReplies(sub.replies, 5000, "SUB");
 * ```
 */
export class BenchConnection {
  /** What the broker sent so far. */
  readonly counter: WireCounter;
  /** Why the connection ended early, or `undefined` while it is fine. */
  failure: string | undefined;
  /** Resolves when the read loop has ended. */
  readonly done: Promise<void>;
  #conn: Deno.TcpConn;
  #protocol: Protocol;
  #name: string;
  #listeners: (() => void)[] = [];
  #closing = false;
  #writing: Promise<void> = Promise.resolve();

  private constructor(conn: Deno.TcpConn, protocol: Protocol, name: string) {
    this.#conn = conn;
    this.#protocol = protocol;
    this.#name = name;
    this.counter = protocol.newCounter();
    this.done = this.#readLoop();
  }

  /**
   * Connects, sends the protocol's handshake and waits for its replies.
   *
   * @param protocol The wire protocol.
   * @param options Where to connect and the client name.
   * @returns The open connection.
   * @throws {Error} When the connection or the handshake fails.
   */
  static async open(protocol: Protocol, options: OpenOptions): Promise<BenchConnection> {
    const conn = await Deno.connect({ hostname: options.host, port: options.port });
    conn.setNoDelay(true);
    const connection = new BenchConnection(conn, protocol, options.clientId);
    try {
      const handshake = protocol.handshake(options.clientId);
      await connection.write(handshake.bytes);
      await connection.waitReplies(handshake.replies, options.timeoutMs, "handshake");
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  /** The client name given to {@linkcode BenchConnection.open}. */
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
    const counter = this.counter;
    const pong = this.#protocol.pong;
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) {
          if (!this.#closing) this.failure = "connection closed by the broker";
          break;
        }
        counter.feed(buf, 0, n);
        if (counter.pingsDue > 0 && pong !== undefined) {
          counter.pingsDue = 0;
          this.write(pong).catch(() => {});
        }
        this.#notify();
      }
    } catch (error) {
      if (!this.#closing) this.failure = `read failed: ${error}`;
    }
    this.#notify();
  }

  #notify(): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]();
  }
}
