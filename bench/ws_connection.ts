// Copyright mb authors. MIT license.
// A load-generator connection over WebSocket (Deno's global `WebSocket`,
// subprotocol mb.v1): each binary message carries a piece of the same byte
// stream as a TCP connection, so the same pre-encoded frames go out and the
// same counter walks what comes back.

import { BenchConnection, type Endpoint } from "./connection.ts";

/** The subprotocol mb's web listener wants (server/gateway/websocket_conn.ts). */
export const WS_SUBPROTOCOL = "mb.v1";

/**
 * Bytes handed to `send` and not yet written to the socket above which a
 * write waits. The publish window keeps well below it; it is a guard, not
 * the flow control.
 */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Options for {@linkcode WebSocketConnection.open}. */
export interface WebSocketOpenOptions {
  /** `ws://host:port/path`. */
  url: string;
  /** Client name, unique in the run. */
  clientId: string;
  /** How long to wait for the upgrade and the handshake's replies, in milliseconds. */
  timeoutMs: number;
}

/**
 * A WebSocket to mb's web listener. `write` sends the bytes as one binary
 * message; every message received is fed to the counter as it is (no copy).
 *
 * @example
 * ```ts ignore
 * const conn = await WebSocketConnection.open(PROTOCOLS.mb, {
 *   url: "ws://127.0.0.1:4180/", clientId: "sub-0", timeoutMs: 5000,
 * });
 * ```
 */
export class WebSocketConnection extends BenchConnection {
  readonly done: Promise<void>;
  #socket: WebSocket;
  #closing = false;

  private constructor(socket: WebSocket, endpoint: Endpoint, name: string) {
    super(endpoint, name);
    this.#socket = socket;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.done = promise;
    socket.onmessage = (event: MessageEvent) => {
      const data = event.data;
      if (data instanceof ArrayBuffer) {
        this.received(new Uint8Array(data), 0, data.byteLength);
      } else if (!this.#closing) {
        this.failure = "the broker sent a text message";
        this.notify();
      }
    };
    socket.onerror = (event) => {
      if (!this.#closing && this.failure === undefined) {
        this.failure = `WebSocket error: ${(event as ErrorEvent).message ?? "unknown"}`;
      }
    };
    socket.onclose = (event: CloseEvent) => {
      if (!this.#closing && this.failure === undefined) {
        this.failure = `WebSocket closed by the broker: ${event.code} ${event.reason}`.trim();
      }
      this.#closing = true;
      this.notify();
      resolve();
    };
  }

  /**
   * Opens a WebSocket with subprotocol `mb.v1`, sends the endpoint's
   * handshake and waits for its replies.
   *
   * @param endpoint The wire protocol (mb).
   * @param options The URL and the client name.
   * @returns The open connection.
   * @throws {Error} When the upgrade or the handshake fails.
   */
  static async open(
    endpoint: Endpoint,
    options: WebSocketOpenOptions,
  ): Promise<WebSocketConnection> {
    const socket = new WebSocket(options.url, WS_SUBPROTOCOL);
    socket.binaryType = "arraybuffer";
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => reject(new Error(`${options.clientId}: no WebSocket after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    socket.onopen = () => resolve();
    socket.onerror = (event) =>
      reject(
        new Error(
          `${options.clientId}: cannot open ${options.url}: ${
            (event as ErrorEvent).message ?? "WebSocket error"
          }`,
        ),
      );
    socket.onclose = (event) =>
      reject(new Error(`${options.clientId}: WebSocket closed: ${event.code} ${event.reason}`));
    try {
      await promise;
    } catch (error) {
      socket.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (socket.protocol !== WS_SUBPROTOCOL) {
      socket.close();
      throw new Error(`${options.clientId}: the broker chose subprotocol "${socket.protocol}"`);
    }
    const connection = new WebSocketConnection(socket, endpoint, options.clientId);
    await connection.greet(options.timeoutMs);
    return connection;
  }

  /**
   * Sends `bytes` as one binary message.
   *
   * @param bytes The bytes; `send` copies them, so they may be written again.
   * @returns Resolves at once, or once the socket's send buffer has drained
   * below 8 MiB.
   */
  write(bytes: Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (this.#closing || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`${this.name}: the WebSocket is closed`));
    }
    socket.send(bytes);
    if (socket.bufferedAmount < MAX_BUFFERED_BYTES) return Promise.resolve();
    return this.#drain();
  }

  async #drain(): Promise<void> {
    while (this.#socket.bufferedAmount >= MAX_BUFFERED_BYTES) {
      if (this.#closing) throw new Error(`${this.name}: the WebSocket is closed`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Starts the closing handshake; the connection then ends without a failure. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#socket.close(1000);
    } catch { /* already closed */ }
  }
}
