// Copyright mb authors. MIT license.

import { FrameType, isConnectionFatal, isMbErrorCode, MbError } from "../../protocol/mod.ts";
import type { SessionConn } from "../session.ts";

/** The WebSocket subprotocol a client must ask for: `new WebSocket(url, "mb.v1")`. */
export const WS_PROTOCOL = "mb.v1";

/**
 * The close codes the broker ends a WebSocket with (PROTOCOL.md, section
 * "WebSocket").
 */
export const WsCloseCode = {
  /** The client said goodbye, the broker shut down, or the client closed first. */
  Normal: 1000,
  /** The upgrade did not ask for the `mb.v1` subprotocol. */
  ProtocolError: 1002,
  /** A text message arrived: mb frames travel in binary messages. */
  UnsupportedData: 1003,
  /**
   * A fatal mb error (the reason is its code, like `AUTH_FAILED`), or more
   * unread input than the broker buffers (`inbound buffer full`).
   */
  PolicyViolation: 1008,
  /** A message over `maxFrameBytes` + {@linkcode WS_MESSAGE_SLACK_BYTES}. */
  MessageTooBig: 1009,
} as const;

/**
 * How many bytes a WebSocket message may carry beyond the broker's
 * `maxFrameBytes`, so that one largest frame plus a little of the next fits.
 */
export const WS_MESSAGE_SLACK_BYTES = 65536;

/** The close reason of a missing or wrong subprotocol. */
export const WS_SUBPROTOCOL_REQUIRED = `subprotocol ${WS_PROTOCOL} required`;

const TEXT_REASON = "text frames are not supported: send binary mb frames";
const TOO_BIG_REASON = "message too big";
const INBOUND_FULL_REASON = "inbound buffer full";
const OPEN = 1;
/** Longest close reason the WebSocket API accepts, in UTF-8 bytes. */
const MAX_REASON_BYTES = 123;

/** The part of a `WebSocket` that {@linkcode WebSocketConn} uses. */
export interface WebSocketLike {
  /** Set to `"arraybuffer"` by the adapter. */
  binaryType: BinaryType;
  /** Bytes passed to `send` and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** `1` while open. */
  readonly readyState: number;
  /** Sends one binary message. */
  send(data: Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Listens for `message` and `close`. */
  addEventListener(type: string, listener: (event: Event) => void): void;
}

/** Limits of a {@linkcode WebSocketConn}. */
export interface WebSocketConnOptions {
  /** Largest message accepted; a larger one closes the socket with 1009. */
  maxMessageBytes: number;
  /**
   * Bytes received and not yet read by the session before the socket is
   * closed with 1008 `inbound buffer full`. A WebSocket cannot be paused, so
   * this bounds what a client that keeps sending while the broker has
   * stopped reading it (its answers back up) can make the broker hold.
   *
   * @default {16777216}
   */
  maxInboundBytes?: number;
  /**
   * A write resolves once the socket's `bufferedAmount` is below this, so
   * the session's slow-consumer accounting sees a client that does not read.
   *
   * @default {1048576}
   */
  maxBufferedBytes?: number;
  /**
   * How often a blocked write looks at `bufferedAmount` again, in ms.
   *
   * @default {5}
   */
  pollMs?: number;
}

/**
 * A server-side WebSocket as a session's byte streams: binary messages in,
 * binary messages out, so the same `Session` serves WebSocket clients as TCP
 * ones. A message may carry any piece of the byte stream (several frames,
 * or part of one); the session's decoder reassembles frames.
 *
 * Closing picks the close code from what the session wrote last: a fatal
 * Error frame closes with 1008 and its code as the reason, a Goodbye with
 * 1000. The socket must be open when the adapter is made.
 *
 * @example Serve one WebSocket (sketch)
 * ```ts ignore
 * import { WebSocketConn, WS_PROTOCOL } from "./websocket_conn.ts";
 *
 * Deno.serve((request) => {
 *   const { socket, response } = Deno.upgradeWebSocket(request, { protocol: WS_PROTOCOL });
 *   socket.onopen = () => {
 *     const conn = new WebSocketConn(socket, { maxMessageBytes: 1 << 20 });
 *     conn.readable.pipeTo(conn.writable); // an echo server
 *   };
 *   return response;
 * });
 * ```
 */
export class WebSocketConn implements SessionConn {
  /** Bytes from the client, one chunk per binary message. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the client, one binary message per write. */
  readonly writable: WritableStream<Uint8Array>;
  #socket: WebSocketLike;
  #maxMessageBytes: number;
  #maxBufferedBytes: number;
  #pollMs: number;
  #readableController!: ReadableStreamDefaultController<Uint8Array>;
  #writableController!: WritableStreamDefaultController;
  #readableEnded = false;
  #closing = false;
  #closedResolve!: () => void;
  #closed: Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #blocked: { resolve(): void; reject(error: unknown): void } | undefined;
  #last: Uint8Array | undefined;
  #previous: Uint8Array | undefined;

  /**
   * Adapts an open socket.
   *
   * @param socket The socket, open.
   * @param options Limits.
   */
  constructor(socket: WebSocketLike, options: WebSocketConnOptions) {
    this.#socket = socket;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.#pollMs = options.pollMs ?? 5;
    this.#closed = new Promise((resolve) => this.#closedResolve = resolve);
    socket.binaryType = "arraybuffer";
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#readableController = controller;
        },
        cancel: () => this.close(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: options.maxInboundBytes ?? 16 * 1024 * 1024 }),
    );
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writableController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.close(),
      abort: () => this.close(),
    });
    socket.addEventListener("message", (event) => this.#onMessage(event as MessageEvent));
    socket.addEventListener("close", () => this.#onClose());
  }

  /** Resolves when the socket has closed (its `close` event). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Closes the socket: 1008 with the code as reason after a fatal Error
   * frame, 1000 after a Goodbye or otherwise; 1008 `SLOW_CONSUMER` when a
   * write is still blocked on a client that does not read.
   */
  close(): void {
    if (this.#closing) return;
    const verdict = closeVerdict(this.#last) ?? closeVerdict(this.#previous);
    if (verdict !== undefined) this.#shut(verdict.code, verdict.reason);
    else if (this.#blocked !== undefined) this.#shut(WsCloseCode.PolicyViolation, "SLOW_CONSUMER");
    else this.#shut(WsCloseCode.Normal, "");
    this.#endReadable();
  }

  #write(chunk: Uint8Array): Promise<void> | undefined {
    const socket = this.#socket;
    if (this.#closing || socket.readyState !== OPEN) {
      throw new MbError("CONNECTION_CLOSED", "Cannot write: the WebSocket is closed");
    }
    socket.send(chunk);
    this.#previous = this.#last;
    this.#last = chunk;
    if (socket.bufferedAmount < this.#maxBufferedBytes) return;
    return new Promise((resolve, reject) => {
      this.#blocked = { resolve, reject };
      this.#timer = setTimeout(() => this.#poll(), this.#pollMs);
    });
  }

  #poll(): void {
    this.#timer = undefined;
    const blocked = this.#blocked;
    if (blocked === undefined) return;
    const socket = this.#socket;
    if (socket.readyState !== OPEN) {
      this.#blocked = undefined;
      blocked.reject(new MbError("CONNECTION_CLOSED", "Cannot write: the WebSocket is closed"));
    } else if (socket.bufferedAmount < this.#maxBufferedBytes) {
      this.#blocked = undefined;
      blocked.resolve();
    } else this.#timer = setTimeout(() => this.#poll(), this.#pollMs);
  }

  #onMessage(event: MessageEvent): void {
    if (this.#closing) return;
    const data: unknown = event.data;
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(
        WsCloseCode.UnsupportedData,
        TEXT_REASON,
        new MbError(
          "FRAME_MALFORMED",
          "Cannot read a WebSocket text message: mb frames are binary",
        ),
      );
      return;
    }
    if (data.byteLength > this.#maxMessageBytes) {
      this.#fail(
        WsCloseCode.MessageTooBig,
        TOO_BIG_REASON,
        new MbError(
          "FRAME_TOO_LARGE",
          `Cannot read a WebSocket message of ${data.byteLength} bytes: the limit is ${this.#maxMessageBytes}`,
        ),
      );
      return;
    }
    if (data.byteLength === 0) return;
    const controller = this.#readableController;
    controller.enqueue(new Uint8Array(data));
    if ((controller.desiredSize ?? 0) < 0) {
      this.#fail(
        WsCloseCode.PolicyViolation,
        INBOUND_FULL_REASON,
        new MbError(
          "SLOW_CONSUMER",
          "Too much unread input: the client keeps sending while it does not read its answers",
        ),
      );
    }
  }

  /** Closes with `code` and errors the readable, so the session logs `error`. */
  #fail(code: number, reason: string, error: MbError): void {
    this.#shut(code, reason);
    if (this.#readableEnded) return;
    this.#readableEnded = true;
    this.#readableController.error(error);
  }

  #shut(code: number, reason: string): void {
    this.#closing = true;
    try {
      this.#socket.close(code, limitReason(reason));
    } catch {
      // Closed already.
    }
  }

  #endReadable(): void {
    if (this.#readableEnded) return;
    this.#readableEnded = true;
    try {
      this.#readableController.close();
    } catch {
      // Errored or closed already.
    }
  }

  #onClose(): void {
    this.#closing = true;
    this.#endReadable();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const closedError = new MbError("CONNECTION_CLOSED", "The WebSocket closed");
    const blocked = this.#blocked;
    this.#blocked = undefined;
    blocked?.reject(closedError);
    try {
      this.#writableController.error(closedError);
    } catch {
      // Closed already.
    }
    this.#last = this.#previous = undefined;
    this.#closedResolve();
  }
}

/** The close code and reason the last fatal Error or Goodbye in `chunk` calls for. */
function closeVerdict(chunk: Uint8Array | undefined): { code: number; reason: string } | undefined {
  if (chunk === undefined) return undefined;
  let verdict: { code: number; reason: string } | undefined;
  let offset = 0;
  while (offset + 5 <= chunk.length) {
    const length = (chunk[offset] << 24 | chunk[offset + 1] << 16 | chunk[offset + 2] << 8 |
      chunk[offset + 3]) >>> 0;
    const end = offset + 4 + length;
    if (length === 0 || end > chunk.length) break;
    const type = chunk[offset + 4];
    if (type === FrameType.Goodbye) {
      verdict = {
        code: WsCloseCode.Normal,
        reason: new TextDecoder().decode(chunk.subarray(offset + 5, end)),
      };
    } else if (type === FrameType.Error && length >= 9) {
      const requestId = chunk[offset + 5] | chunk[offset + 6] | chunk[offset + 7] |
        chunk[offset + 8];
      const codeLength = chunk[offset + 9] << 8 | chunk[offset + 10];
      const code = new TextDecoder().decode(
        chunk.subarray(offset + 11, Math.min(end, offset + 11 + codeLength)),
      );
      if (requestId === 0 && isMbErrorCode(code) && isConnectionFatal(code)) {
        verdict = { code: WsCloseCode.PolicyViolation, reason: code };
      }
    }
    offset = end;
  }
  return verdict;
}

/** Cuts a close reason to the 123 UTF-8 bytes the WebSocket API accepts. */
function limitReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return reason;
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
