// Copyright mb authors. MIT license.
// Byte helpers for the text protocols (NATS, RESP) and MQTT strings.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes text as UTF-8.
 *
 * @param text The text.
 * @returns Its bytes.
 */
export function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes a short piece of a buffer, for error messages.
 *
 * @param buf The buffer.
 * @param start First byte.
 * @param end One past the last byte.
 * @returns The text, at most 200 characters.
 */
export function textOf(buf: Uint8Array, start: number, end: number): string {
  return decoder.decode(buf.subarray(start, Math.min(end, start + 200)));
}

/**
 * Concatenates byte arrays.
 *
 * @param parts The pieces.
 * @returns One buffer holding them in order.
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Parses the decimal number in `buf[start, end)`, with an optional leading
 * minus sign.
 *
 * @param buf The buffer.
 * @param start First byte.
 * @param end One past the last byte.
 * @returns The number, or NaN when a byte is not a digit.
 */
export function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  let negative = false;
  if (start < end && buf[start] === 0x2d) {
    negative = true;
    start++;
  }
  if (start === end) return NaN;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = buf[i] - 0x30;
    if (digit < 0 || digit > 9) return NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/**
 * Holds the start of a text line that a read cut off, until its end
 * arrives. Grows as needed (lines here are short) and is reused.
 */
export class LineCarry {
  /** The bytes held so far, valid up to {@linkcode LineCarry.length}. */
  bytes: Uint8Array = new Uint8Array(256);
  /** How many bytes are held. */
  length = 0;

  /**
   * Appends `buf[start, end)`.
   *
   * @param buf The source.
   * @param start First byte.
   * @param end One past the last byte.
   */
  append(buf: Uint8Array, start: number, end: number): void {
    const need = this.length + end - start;
    if (need > this.bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(buf.subarray(start, end), this.length);
    this.length = need;
  }
}
