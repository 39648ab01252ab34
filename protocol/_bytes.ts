// Copyright mb authors. MIT license.
// This module is browser compatible.
// Byte helpers shared by the encoder and the decoder. Short ASCII strings,
// the common case for topics and header names, take a plain loop; anything
// else goes through TextEncoder / TextDecoder.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Number of UTF-8 bytes `text` encodes to. */
export function utf8Length(text: string): number {
  const n = text.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair: two UTF-16 units, four UTF-8 bytes.
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Writes `text` as UTF-8 at `offset`; `byteLength` must come from
 * {@linkcode utf8Length}. Returns the offset after the text.
 */
export function writeUtf8(
  text: string,
  byteLength: number,
  out: Uint8Array,
  offset: number,
): number {
  if (byteLength === text.length) {
    for (let i = 0; i < byteLength; i++) out[offset + i] = text.charCodeAt(i);
    return offset + byteLength;
  }
  encoder.encodeInto(text, out.subarray(offset, offset + byteLength));
  return offset + byteLength;
}

/** Decodes UTF-8 bytes; invalid sequences become U+FFFD. */
export function readUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let ascii = "";
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (c >= 0x80) return decoder.decode(bytes.subarray(start, end));
      ascii += String.fromCharCode(c);
    }
    return ascii;
  }
  return decoder.decode(bytes.subarray(start, end));
}

/** Encodes a string to fresh UTF-8 bytes. */
export function toUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Reads a big-endian unsigned 16-bit integer. */
export function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

/** Reads a big-endian unsigned 32-bit integer. */
export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3]) >>> 0;
}

/** Writes a big-endian unsigned 16-bit integer; returns the next offset. */
export function writeU16(out: Uint8Array, at: number, value: number): number {
  out[at] = value >>> 8;
  out[at + 1] = value;
  return at + 2;
}

/** Writes a big-endian unsigned 32-bit integer; returns the next offset. */
export function writeU32(out: Uint8Array, at: number, value: number): number {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
  return at + 4;
}

/** Largest `u64` value mb sends: offsets and times stay safe integers. */
export const MAX_U64_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Reads a big-endian unsigned 64-bit integer as a number; returns -1 when it
 * is larger than `Number.MAX_SAFE_INTEGER`.
 */
export function readU64(bytes: Uint8Array, at: number): number {
  const high = readU32(bytes, at);
  if (high > 0x1fffff) return -1;
  return high * 0x100000000 + readU32(bytes, at + 4);
}

/** Writes a non-negative safe integer as a big-endian u64; returns the next offset. */
export function writeU64(out: Uint8Array, at: number, value: number): number {
  writeU32(out, at, Math.floor(value / 0x100000000));
  return writeU32(out, at + 4, value >>> 0);
}
