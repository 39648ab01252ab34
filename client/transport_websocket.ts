// Copyright mb authors. MIT license.
// This module is browser compatible.

import { MbError, type MbErrorCode } from "../protocol/errors.ts";
import type { Transport, TransportOptions } from "./transport.ts";

/** The WebSocket subprotocol the broker's web listener speaks. */
export const WEBSOCKET_PROTOCOL = "mb.v1";

/** Bytes queued in the socket beyond which a write waits. */
const HIGH_WATER_BYTES = 1024 * 1024;
/** A waiting write goes on once the socket has queued no more than this. */
const LOW_WATER_BYTES = 256 * 1024;
/** Longest wait for the server's close frame after `close()`. */
const CLOSE_TIMEOUT_MS = 1000;

/**
 * Opens a transport over a WebSocket (`ws:`/`wss:`) with the runtime's global
 * `WebSocket`: browsers, Deno, Node.js 22 and newer. It asks for the `mb.v1`
 * subprotocol; each binary message carries mb frame bytes. Writes wait while
 * the socket has more than 1 MiB queued (`bufferedAmount`).
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options An abort signal for the attempt.
 * @returns The open transport.
 * @throws {MbError} `UNSUPPORTED_TRANSPORT` for another scheme or a runtime
 * without `WebSocket` (Node.js 20), `CONNECTION_FAILED` when the socket
 * closes before it opens (the message has the close code and reason).
 *
 * @example
 * ```ts ignore
 * import { connectWebSocket } from "./transport_websocket.ts";
 *
 * const transport = await connectWebSocket(new URL("ws://127.0.0.1:4180"), {});
 * transport.close();
 * ```
 */
export function connectWebSocket(url: URL, options: TransportOptions): Promise<Transport> {
  const fail = (code: MbErrorCode, detail: string, cause?: unknown) =>
    Promise.reject(
      new MbError(
        code,
        `Cannot connect to ${url.href}: ${detail}`,
        cause === undefined ? undefined : { cause },
      ),
    );
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    return fail("UNSUPPORTED_TRANSPORT", "not a ws: or wss: URL");
  }
  if (typeof globalThis.WebSocket !== "function") {
    return fail(
      "UNSUPPORTED_TRANSPORT",
      "this runtime has no WebSocket (Node.js has one from version 22); use mb:, tls: or unix:",
    );
  }
  const signal = options.signal;
  if (signal?.aborted) return fail("CONNECTION_FAILED", "aborted");
  let ws: WebSocket;
  try {
    ws = new WebSocket(url.href, WEBSOCKET_PROTOCOL);
  } catch (cause) {
    return fail("CONNECTION_FAILED", cause instanceof Error ? cause.message : String(cause), cause);
  }
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    // Browsers say nothing about the cause; Deno and Node.js put it in the
    // error event's message. The close event that follows has the code.
    let cause = "the WebSocket closed before it opened";
    const errored = (event: Event) => {
      const text = (event as Partial<ErrorEvent>).message;
      if (typeof text === "string" && text !== "") cause = text;
    };
    const failed = (event: CloseEvent) => {
      settle();
      reject(
        new MbError(
          "CONNECTION_FAILED",
          `Cannot connect to ${url.href}: ${cause} (${describe(event)})`,
        ),
      );
    };
    const abort = () => {
      ws.close();
      reject(new MbError("CONNECTION_FAILED", `Cannot connect to ${url.href}: aborted`));
    };
    const settle = () => {
      signal?.removeEventListener("abort", abort);
      ws.removeEventListener("error", errored);
      ws.removeEventListener("close", failed);
    };
    signal?.addEventListener("abort", abort, { once: true });
    ws.addEventListener("error", errored);
    ws.addEventListener("close", failed, { once: true });
    ws.addEventListener("open", () => {
      settle();
      resolve(wrap(ws, url));
    }, { once: true });
  });
}

function wrap(ws: WebSocket, url: URL): Transport {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  let closeTimer: ReturnType<typeof setTimeout> | undefined;
  const end = (error?: MbError) => {
    clearTimeout(closeTimer);
    if (ended) return;
    ended = true;
    if (error === undefined) controller.close();
    else controller.error(error);
  };
  // The WebSocket API cannot pause the socket, so messages queue here as
  // fast as they arrive; the client's read loop takes them at once.
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      ended = true;
      ws.close(1000);
    },
  });
  ws.addEventListener("message", (event: MessageEvent) => {
    if (ended) return;
    if (event.data instanceof ArrayBuffer) {
      controller.enqueue(new Uint8Array(event.data));
      return;
    }
    end(new MbError("FRAME_MALFORMED", `Cannot read from ${url.href}: got a text message`));
    ws.close(1003, "binary messages only");
  });
  ws.addEventListener("close", (event: CloseEvent) => {
    if (event.code === 1000) return end();
    end(new MbError("CONNECTION_CLOSED", `Connection to ${url.href} closed (${describe(event)})`));
  });
  const closedError = () =>
    new MbError("CONNECTION_CLOSED", `Cannot write to ${url.href}: the WebSocket is closed`);
  // No event says the socket's buffer emptied: look again on a timer, only
  // while a write is held back.
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      let delayMs = 1;
      const check = () => {
        if (ws.readyState !== WebSocket.OPEN) reject(closedError());
        else if (ws.bufferedAmount <= LOW_WATER_BYTES) resolve();
        else setTimeout(check, delayMs = Math.min(delayMs * 2, 50));
      };
      setTimeout(check, delayMs);
    });
  // Starts the closing handshake; the readable ends when the server answers
  // (so the socket is released), or after CLOSE_TIMEOUT_MS at the latest.
  const close = () => {
    if (ws.readyState === WebSocket.CLOSED) return end();
    if (ws.readyState !== WebSocket.CLOSING) ws.close(1000);
    if (!ended) closeTimer ??= setTimeout(end, CLOSE_TIMEOUT_MS);
  };
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (ws.readyState !== WebSocket.OPEN) throw closedError();
      // The client's batches are views of plain ArrayBuffers, never shared ones.
      ws.send(chunk as Uint8Array<ArrayBuffer>);
      if (ws.bufferedAmount > HIGH_WATER_BYTES) return drained();
    },
    close,
    abort: close,
  });
  return { readable, writable, close };
}

/** "WebSocket code 1006" plus the reason, when the server gave one. */
function describe(event: CloseEvent): string {
  const reason = event.reason === "" ? "" : `, reason ${JSON.stringify(event.reason)}`;
  return `WebSocket code ${event.code}${reason}`;
}
