// Copyright mb authors. MIT license.
// This module is browser compatible.

import { readU16, readUtf8, utf8Length, writeU16, writeUtf8 } from "./_bytes.ts";
import { MbError } from "./errors.ts";
import { MAX_HEADER_BYTES } from "./frames.ts";

/**
 * Encodes message headers into the block a publish frame carries: for each
 * entry a 16-bit key length, the key, a 16-bit value length and the value,
 * all UTF-8. Returns `undefined` for no headers.
 *
 * @param headers Names and values.
 * @returns The encoded block, or `undefined` when `headers` is empty.
 * @throws {MbError} `HEADERS_INVALID` when a name is empty or the block
 * exceeds {@linkcode MAX_HEADER_BYTES}.
 *
 * @example Round trip
 * ```ts
 * import { decodeHeaders, encodeHeaders } from "./headers.ts";
 * import assert from "node:assert/strict";
 *
 * const block = encodeHeaders({ "content-type": "text/plain", trace: "é" });
 * assert.deepEqual(decodeHeaders(block!), { "content-type": "text/plain", trace: "é" });
 * assert.equal(encodeHeaders({}), undefined);
 * ```
 */
export function encodeHeaders(
  headers: Record<string, string>,
): Uint8Array | undefined {
  const keys = Object.keys(headers);
  if (keys.length === 0) return undefined;
  let size = 0;
  const lengths: number[] = [];
  for (const key of keys) {
    const value = String(headers[key]);
    if (key.length === 0) {
      throw new MbError("HEADERS_INVALID", "Cannot encode headers: empty header name");
    }
    const keyBytes = utf8Length(key);
    const valueBytes = utf8Length(value);
    lengths.push(keyBytes, valueBytes);
    size += 4 + keyBytes + valueBytes;
  }
  if (size > MAX_HEADER_BYTES) {
    throw new MbError(
      "HEADERS_INVALID",
      `Cannot encode headers: ${size} bytes exceeds the limit of ${MAX_HEADER_BYTES}`,
    );
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    at = writeU16(out, at, lengths[2 * i]);
    at = writeUtf8(key, lengths[2 * i], out, at);
    at = writeU16(out, at, lengths[2 * i + 1]);
    at = writeUtf8(String(headers[key]), lengths[2 * i + 1], out, at);
  }
  return out;
}

/**
 * Decodes a header block made by {@linkcode encodeHeaders}.
 *
 * @param block The encoded block.
 * @returns The headers as a plain object.
 * @throws {MbError} `HEADERS_INVALID` when the block is truncated.
 *
 * @example
 * ```ts
 * import { decodeHeaders } from "./headers.ts";
 * import assert from "node:assert/strict";
 *
 * const block = new Uint8Array([0, 1, 0x61, 0, 1, 0x62]);
 * assert.deepEqual(decodeHeaders(block), { a: "b" });
 * ```
 */
export function decodeHeaders(block: Uint8Array): Record<string, string> {
  const headers: Record<string, string> = {};
  let at = 0;
  const end = block.length;
  while (at < end) {
    if (at + 2 > end) throw truncated();
    const keyEnd = at + 2 + readU16(block, at);
    if (keyEnd + 2 > end) throw truncated();
    const key = readUtf8(block, at + 2, keyEnd);
    const valueEnd = keyEnd + 2 + readU16(block, keyEnd);
    if (valueEnd > end) throw truncated();
    const value = readUtf8(block, keyEnd + 2, valueEnd);
    // Outside Deno, assigning "__proto__" calls the prototype setter, which
    // ignores a string, and the header is lost: define it as an own field.
    if (key === "__proto__") {
      Object.defineProperty(headers, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else headers[key] = value;
    at = valueEnd;
  }
  return headers;
}

function truncated(): MbError {
  return new MbError("HEADERS_INVALID", "Cannot decode headers: block is truncated");
}
