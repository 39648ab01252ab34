// Copyright mb authors. MIT license.
// The WebSocket adapter against a scripted socket: what a browser's
// WebSocket cannot be made to do on cue (hold bytes unsent, stop reading).

import assert from "node:assert/strict";
import { encodeFrame, FrameType, MbError } from "../../protocol/mod.ts";
import { WebSocketConn, type WebSocketLike, WsCloseCode } from "./websocket_conn.ts";

/** A socket whose buffered amount and events the test sets. */
class ScriptedSocket extends EventTarget implements WebSocketLike {
  binaryType: BinaryType = "blob";
  bufferedAmount = 0;
  readyState = 1;
  sent: Uint8Array[] = [];
  closedWith: [number | undefined, string | undefined] | undefined;

  send(data: Uint8Array): void {
    this.sent.push(data);
    this.bufferedAmount += data.length;
  }

  close(code?: number, reason?: string): void {
    this.closedWith ??= [code, reason];
    this.readyState = 2;
  }

  receive(data: ArrayBuffer | string): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /** The closing handshake finished. */
  finishClose(): void {
    this.readyState = 3;
    this.dispatchEvent(new Event("close"));
  }
}

function bytes(n: number): ArrayBuffer {
  return new Uint8Array(n).fill(7).buffer;
}

Deno.test("WebSocketConn resolves a write only once bufferedAmount is below maxBufferedBytes", async () => {
  const socket = new ScriptedSocket();
  const conn = new WebSocketConn(socket, { maxMessageBytes: 1024, maxBufferedBytes: 100 });
  assert.equal(socket.binaryType, "arraybuffer");
  const writer = conn.writable.getWriter();
  await writer.write(new Uint8Array(50));
  let resolved = false;
  const blocked = writer.write(new Uint8Array(60)).then(() => resolved = true);
  assert.equal(socket.sent.length, 2, "the bytes are handed to the socket at once");
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(resolved, false, "the write waits while 110 bytes are buffered");
  socket.bufferedAmount = 99;
  await blocked;
  assert.deepEqual(socket.sent.map((b) => b.length), [50, 60]);
  conn.close();
  socket.finishClose();
  await conn.closed;
  await assert.rejects(writer.write(new Uint8Array(1)), MbError);
});

Deno.test("WebSocketConn reads binary messages and closes on text (1003) or an oversize message (1009)", async () => {
  const socket = new ScriptedSocket();
  const conn = new WebSocketConn(socket, { maxMessageBytes: 10 });
  const reader = conn.readable.getReader();
  socket.receive(bytes(3));
  socket.receive(bytes(0));
  socket.receive(bytes(10));
  assert.deepEqual((await reader.read()).value, new Uint8Array(3).fill(7));
  assert.equal((await reader.read()).value?.length, 10, "an empty message is skipped");
  socket.receive(bytes(11));
  assert.deepEqual(socket.closedWith, [WsCloseCode.MessageTooBig, "message too big"]);
  await assert.rejects(reader.read(), { code: "FRAME_TOO_LARGE" });
  socket.finishClose();

  const text = new ScriptedSocket();
  const textConn = new WebSocketConn(text, { maxMessageBytes: 10 });
  text.receive("hello");
  assert.deepEqual(text.closedWith, [
    WsCloseCode.UnsupportedData,
    "text frames are not supported: send binary mb frames",
  ]);
  await assert.rejects(textConn.readable.getReader().read(), { code: "FRAME_MALFORMED" });
  text.finishClose();
});

Deno.test("WebSocketConn closes with 1008 when unread input passes maxInboundBytes", async () => {
  const socket = new ScriptedSocket();
  const conn = new WebSocketConn(socket, { maxMessageBytes: 100, maxInboundBytes: 20 });
  socket.receive(bytes(10));
  socket.receive(bytes(10));
  assert.equal(socket.closedWith, undefined, "20 unread bytes are allowed");
  socket.receive(bytes(1));
  assert.deepEqual(socket.closedWith, [WsCloseCode.PolicyViolation, "inbound buffer full"]);
  await assert.rejects(conn.readable.getReader().read(), { code: "SLOW_CONSUMER" });
  socket.finishClose();
});

Deno.test("WebSocketConn closes with the code of the fatal error or the goodbye it wrote last", async () => {
  const cases: [Uint8Array[], number, string][] = [
    [
      [
        encodeFrame({ type: FrameType.Pong }),
        encodeFrame({
          type: FrameType.Error,
          requestId: 0,
          code: "AUTH_FAILED",
          message: "Authentication failed",
        }),
      ],
      WsCloseCode.PolicyViolation,
      "AUTH_FAILED",
    ],
    // A per-request error does not close a connection: it is not the reason.
    [
      [
        encodeFrame({ type: FrameType.Error, requestId: 0, code: "TOPIC_INVALID", message: "x" }),
      ],
      WsCloseCode.Normal,
      "",
    ],
    [
      [encodeFrame({ type: FrameType.Goodbye, reason: "server shutting down" })],
      1000,
      "server shutting down",
    ],
    [[], WsCloseCode.Normal, ""],
  ];
  for (const [frames, code, reason] of cases) {
    const socket = new ScriptedSocket();
    const conn = new WebSocketConn(socket, { maxMessageBytes: 1024 });
    const writer = conn.writable.getWriter();
    for (const frame of frames) await writer.write(frame);
    conn.close();
    assert.deepEqual(socket.closedWith, [code, reason]);
    const reader = conn.readable.getReader();
    assert.equal((await reader.read()).done, true, "closing ends the readable");
    socket.finishClose();
    await conn.closed;
  }
});

Deno.test("WebSocketConn closes with 1008 SLOW_CONSUMER when a write is still blocked", async () => {
  const stuck = new ScriptedSocket();
  stuck.bufferedAmount = 100;
  const stuckConn = new WebSocketConn(stuck, { maxMessageBytes: 1024, maxBufferedBytes: 10 });
  const stuckWriter = stuckConn.writable.getWriter();
  const pending = stuckWriter.write(new Uint8Array(20));
  await new Promise((resolve) => setTimeout(resolve, 10));
  stuckConn.close();
  assert.deepEqual(stuck.closedWith, [WsCloseCode.PolicyViolation, "SLOW_CONSUMER"]);
  await assert.rejects(pending, { code: "CONNECTION_CLOSED" });
  stuck.finishClose();
  await stuckConn.closed;
});

Deno.test("WebSocketConn ends its streams when the peer closes", async () => {
  const socket = new ScriptedSocket();
  const conn = new WebSocketConn(socket, { maxMessageBytes: 1024 });
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  socket.receive(bytes(4));
  socket.finishClose();
  assert.equal((await reader.read()).value?.length, 4, "what arrived before is still read");
  assert.equal((await reader.read()).done, true);
  await assert.rejects(writer.closed, { code: "CONNECTION_CLOSED" });
  await conn.closed;
  conn.close();
  assert.equal(socket.closedWith, undefined, "no close after the peer's");
});
