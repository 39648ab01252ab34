// Copyright mb authors. MIT license.
// This module is browser compatible.

import { FrameBatch } from "../protocol/frame_batch.ts";
import { FrameChunkDecoder } from "../protocol/frame_chunk_decoder.ts";
import { isMbErrorCode, MbError, type MbErrorCode } from "../protocol/errors.ts";
import { type Frame, FrameType, PROTOCOL_VERSION, type ServerInfo } from "../protocol/frames.ts";
import type { ConnectOptions } from "./options.ts";
import type { Transport, TransportFactory } from "./transport.ts";

/** Client library version, sent in the hello frame. */
export const CLIENT_VERSION = "0.1.0";

/** Largest frame the client accepts from a server. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** A transport after a successful handshake. */
export interface OpenConnection {
  /** The server it reached. */
  server: URL;
  /** The transport. */
  transport: Transport;
  /** Its writer. */
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Its decoded frames, one array per chunk read. */
  reader: ReadableStreamDefaultReader<Frame[]>;
  /** Frames that arrived in the same chunk as the info frame. */
  pending: Frame[];
  /** The server's info. */
  info: ServerInfo;
}

/**
 * Opens a transport and performs the handshake: hello out, info (or an
 * error frame) back, all within `timeoutMs`.
 *
 * @param server The server URL.
 * @param factory The transport factory.
 * @param options Name, token, TLS trust, timeout.
 * @returns The open, handshaken connection.
 * @throws {MbError} the server's error (`AUTH_FAILED`, ...), `TIMEOUT`, or
 * `CONNECTION_FAILED`.
 */
export async function openConnection(
  server: URL,
  factory: TransportFactory,
  options: ConnectOptions,
): Promise<OpenConnection> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(
        new MbError(
          "TIMEOUT",
          `Cannot connect to ${server.href}: no handshake within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
  });
  let transport: Transport | undefined;
  try {
    transport = await Promise.race([
      factory(server, { caCerts: options.caCerts, signal: abort.signal }).then((opened) => {
        // Opened after the timeout gave up on it: nobody else will close it.
        if (abort.signal.aborted) opened.close();
        return opened;
      }).catch((cause) => {
        if (cause instanceof MbError) throw cause;
        throw new MbError(
          "CONNECTION_FAILED",
          `Cannot connect to ${server.href}: ${cause?.message ?? cause}`,
          { cause },
        );
      }),
      timeout,
    ]);
    const writer = transport.writable.getWriter();
    const reader = transport.readable
      .pipeThrough(new FrameChunkDecoder({ maxFrameBytes: MAX_FRAME_BYTES }))
      .getReader();
    const hello = new FrameBatch({ initialBytes: 256 });
    hello.append({
      type: FrameType.Hello,
      version: PROTOCOL_VERSION,
      hello: { name: options.name, token: options.token, lang: `mb.ts/${CLIENT_VERSION}` },
    });
    await Promise.race([writer.write(hello.take()), timeout]);
    const first = await Promise.race([reader.read(), timeout]);
    if (first.done) {
      throw new MbError(
        "CONNECTION_FAILED",
        `Cannot connect to ${server.href}: closed during the handshake`,
      );
    }
    const frame = first.value[0];
    if (frame.type === FrameType.Error) {
      throw new MbError(asErrorCode(frame.code), frame.message);
    }
    if (frame.type !== FrameType.Info) {
      throw new MbError(
        "FRAME_MALFORMED",
        `Cannot connect to ${server.href}: expected an info frame, got type ${frame.type}`,
      );
    }
    if (frame.version !== PROTOCOL_VERSION) {
      throw new MbError(
        "PROTOCOL_VERSION",
        `Cannot connect to ${server.href}: server speaks version ${frame.version}`,
      );
    }
    return { server, transport, writer, reader, info: frame.info, pending: first.value.slice(1) };
  } catch (error) {
    try {
      transport?.close();
    } catch {
      // Already closed.
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The error code carried by an error frame, or `INTERNAL` for a code this
 * client does not know (a newer server).
 *
 * @param code The code from the frame.
 * @returns A known code.
 */
export function asErrorCode(code: string): MbErrorCode {
  return isMbErrorCode(code) ? code : "INTERNAL";
}
