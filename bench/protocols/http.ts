// Copyright mb authors. MIT license.
// HTTP/1.1 for the load generator's `http-publish` row: pre-encoded
// `POST /v1/topics/{topic}` requests on keep-alive connections, and a
// counter that walks the responses (status line, Content-Length, body
// skipped by length).

import type { Endpoint } from "../connection.ts";
import { bytesOf, concat, LineCarry, textOf } from "./_ascii.ts";
import type { WireCounter } from "./protocol.ts";

const LF = 0x0a;
const CR = 0x0d;
const CONTENT_LENGTH = bytesOf("content-length:");
const TRANSFER_ENCODING = bytesOf("transfer-encoding:");
/** Body bytes of an unexpected response kept for the error message. */
const ERROR_BODY_BYTES = 200;

/**
 * Pre-encodes `count` identical HTTP/1.1 requests that publish `payload` to
 * `topic` through mb's HTTP API (`POST /v1/topics/{topic}`, keep-alive).
 *
 * @param host The `Host` header, e.g. `127.0.0.1:4180`.
 * @param topic The topic, e.g. `bench/t` (its levels are the path).
 * @param payload The request body.
 * @param count How many requests, back to back (more than 1 pipelines them).
 * @returns The bytes, written as they are, as often as needed.
 */
export function httpPublishRequests(
  host: string,
  topic: string,
  payload: Uint8Array,
  count: number,
): Uint8Array {
  const path = `/v1/topics/${topic.split("/").map(encodeURIComponent).join("/")}`;
  const head = bytesOf(
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${payload.length}\r\n\r\n`,
  );
  const one = concat([head, payload]);
  return concat(Array.from({ length: count }, () => one));
}

function startsWithIgnoringCase(
  bytes: Uint8Array,
  length: number,
  prefix: Uint8Array,
): boolean {
  if (length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const byte = bytes[i];
    // ASCII letters: compare lower case.
    const lower = byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
    if (lower !== prefix[i]) return false;
  }
  return true;
}

function trimmedDecimal(bytes: Uint8Array, start: number, end: number): number {
  while (start < end && (bytes[start] === 0x20 || bytes[start] === 0x09)) start++;
  while (end > start && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end--;
  if (start === end) return NaN;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = bytes[i] - 0x30;
    if (digit < 0 || digit > 9) return NaN;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Counts HTTP/1.1 responses: those with the expected status as
 * {@linkcode WireCounter.replies}, any other as an error (with its status
 * line and the start of its body). Responses must carry Content-Length
 * (mb's do); a chunked one is an error.
 */
export class HttpResponseCounter implements WireCounter {
  delivered = 0;
  replies = 0;
  pingsDue = 0;
  errors = 0;
  firstError = "";
  #expected: number;
  #line = new LineCarry();
  /** In the head: lines seen of the current response (0 before its status line). */
  #lines = 0;
  #status = 0;
  #statusLine = "";
  #contentLength = -1;
  #chunked = false;
  /** In the body: bytes still to skip; -1 while in the head. */
  #skip = -1;
  #errorBody = new LineCarry();

  /**
   * @param expected The status every response should have.
   */
  constructor(expected: number) {
    this.#expected = expected;
  }

  feed(buf: Uint8Array, start: number, end: number): void {
    let i = start;
    while (i < end) {
      if (this.#skip >= 0) {
        const take = Math.min(this.#skip, end - i);
        if (this.#status !== this.#expected && this.#errorBody.length < ERROR_BODY_BYTES) {
          this.#errorBody.append(buf, i, i + Math.min(take, ERROR_BODY_BYTES));
        }
        i += take;
        this.#skip -= take;
        if (this.#skip === 0) this.#complete();
        continue;
      }
      const lf = buf.indexOf(LF, i);
      if (lf < 0 || lf >= end) {
        this.#line.append(buf, i, end);
        break;
      }
      this.#line.append(buf, i, lf);
      i = lf + 1;
      this.#headLine();
    }
  }

  #headLine(): void {
    const line = this.#line;
    const bytes = line.bytes;
    let length = line.length;
    line.length = 0;
    if (length > 0 && bytes[length - 1] === CR) length--;
    if (this.#lines++ === 0) {
      // "HTTP/1.1 202 Accepted"
      this.#status = length >= 12 ? trimmedDecimal(bytes, 9, 12) : NaN;
      this.#statusLine = this.#status === this.#expected ? "" : textOf(bytes, 0, length);
      return;
    }
    if (length === 0) {
      // End of the head.
      if (this.#chunked || this.#contentLength < 0) {
        // Its end cannot be found: count it as an error and read on as if it had no body.
        this.#fail(`HTTP response without Content-Length (status ${this.#status})`);
        this.#reset();
        return;
      }
      this.#skip = this.#contentLength;
      if (this.#skip === 0) this.#complete();
      return;
    }
    if (startsWithIgnoringCase(bytes, length, CONTENT_LENGTH)) {
      this.#contentLength = trimmedDecimal(bytes, CONTENT_LENGTH.length, length);
    } else if (startsWithIgnoringCase(bytes, length, TRANSFER_ENCODING)) {
      this.#chunked = true;
    }
  }

  #complete(): void {
    if (this.#status === this.#expected) {
      this.replies++;
    } else {
      const body = textOf(this.#errorBody.bytes, 0, this.#errorBody.length);
      this.#fail(`${this.#statusLine || `status ${this.#status}`}: ${body}`.trim());
    }
    this.#reset();
  }

  #reset(): void {
    this.#lines = 0;
    this.#status = 0;
    this.#statusLine = "";
    this.#contentLength = -1;
    this.#chunked = false;
    this.#skip = -1;
    this.#errorBody.length = 0;
  }

  #fail(text: string): void {
    this.errors++;
    if (this.firstError === "") this.firstError = text;
  }
}

/** HTTP/1.1 responses on a keep-alive connection: no handshake, no pings. */
export const HTTP_ACCEPTED: Endpoint = {
  newCounter: () => new HttpResponseCounter(202),
  pong: undefined,
};
