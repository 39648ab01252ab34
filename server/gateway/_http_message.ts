// Copyright mb authors. MIT license.
// Message sections to and from HTTP: the JSON form of a message (payload as
// UTF-8 text, or base64 when the bytes are not UTF-8 or base64 is asked
// for), `mb-header-*` request and response headers, raw-bytes responses.

import { readU16, readUtf8 } from "../../protocol/_bytes.ts";
import { decodeHeaders } from "../../protocol/headers.ts";

/** Prefix of the HTTP headers that carry message headers. */
export const HEADER_PREFIX = "mb-header-";

/** How payloads appear in JSON: text when valid UTF-8 (`"text"`), or always base64. */
export type PayloadEncoding = "text" | "base64";

/** A message section's fields, payload as a view into the section. */
export interface MessageFields {
  topic: string;
  replyTo: string;
  headers: Record<string, string>;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Splits a stored or routed message section (see `encodeMessageSection`). */
export function readMessageSection(section: Uint8Array): MessageFields {
  const topicEnd = 2 + readU16(section, 0);
  const replyEnd = topicEnd + 2 + readU16(section, topicEnd);
  const headersEnd = replyEnd + 2 + readU16(section, replyEnd);
  let headers: Record<string, string> = {};
  if (headersEnd > replyEnd + 2) {
    try {
      headers = decodeHeaders(section.subarray(replyEnd + 2, headersEnd));
    } catch {
      // Sections are validated when published; a bad block loses its headers only.
    }
  }
  return {
    topic: readUtf8(section, 2, topicEnd),
    replyTo: replyEnd === topicEnd + 2 ? "" : readUtf8(section, topicEnd + 2, replyEnd),
    headers,
    payload: headersEnd >= section.length ? EMPTY : section.subarray(headersEnd),
  };
}

/**
 * Adds a message's JSON fields to `into`: `topic`, `replyTo` (when set),
 * `payload` or `payloadBase64`, `headers`.
 */
export function addMessageJson(
  into: Record<string, unknown>,
  section: Uint8Array,
  encoding: PayloadEncoding,
): Record<string, unknown> {
  const message = readMessageSection(section);
  into.topic = message.topic;
  if (message.replyTo !== "") into.replyTo = message.replyTo;
  const text = encoding === "text" ? utf8OrUndefined(message.payload) : undefined;
  if (text !== undefined) into.payload = text;
  else into.payloadBase64 = toBase64(message.payload);
  into.headers = message.headers;
  return into;
}

/** Decodes strict UTF-8, or returns `undefined` when the bytes are not UTF-8. */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Encodes bytes as base64. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * The message headers a request carries as `mb-header-<name>: <value>`
 * (names lowercase, as HTTP gives them; values sent as UTF-8 bytes are
 * decoded as UTF-8).
 */
export function messageHeadersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (!name.startsWith(HEADER_PREFIX) || name.length === HEADER_PREFIX.length) continue;
    const key = name.slice(HEADER_PREFIX.length);
    const text = fromByteString(value);
    if (key === "__proto__") {
      Object.defineProperty(out, key, {
        value: text,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[key] = text;
  }
  return out;
}

/**
 * Response headers for a raw-bytes answer: `mb-topic`, `mb-reply-to`, one
 * `mb-header-<name>` per message header (values as UTF-8 bytes), and
 * `content-type` from the message's `content-type` header when it has one.
 * Headers HTTP cannot carry (a line break in a value) are left out.
 */
export function rawMessageHeaders(message: MessageFields): Headers {
  const headers = new Headers({ "content-type": "application/octet-stream" });
  trySet(headers, "mb-topic", message.topic);
  if (message.replyTo !== "") trySet(headers, "mb-reply-to", message.replyTo);
  for (const name of Object.keys(message.headers)) {
    trySet(headers, HEADER_PREFIX + name, message.headers[name]);
    if (name.toLowerCase() === "content-type") {
      trySet(headers, "content-type", message.headers[name]);
    }
  }
  return headers;
}

/**
 * A raw-bytes answer: the message's payload as the body, its fields in
 * headers (see {@linkcode rawMessageHeaders}) plus `fields` (`mb-offset`...).
 */
export function rawAnswer(section: Uint8Array, fields: Record<string, number>): Response {
  const message = readMessageSection(section);
  const headers = rawMessageHeaders(message);
  for (const name of Object.keys(fields)) headers.set(name, String(fields[name]));
  return new Response(message.payload as Uint8Array<ArrayBuffer>, { headers });
}

function trySet(headers: Headers, name: string, value: string): void {
  try {
    headers.set(name, toByteString(value));
  } catch {
    // Not a valid HTTP header name or value.
  }
}

/** An HTTP header value (bytes as chars 0-255) read as UTF-8 when it is UTF-8. */
function fromByteString(value: string): string {
  let ascii = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return value;
    if (c >= 0x80) ascii = false;
  }
  if (ascii) return value;
  const bytes = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
  return utf8OrUndefined(bytes) ?? value;
}

/** A string as its UTF-8 bytes, one char each, as HTTP header values travel. */
function toByteString(value: string): string {
  let ascii = true;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return value;
  const bytes = new TextEncoder().encode(value);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}
