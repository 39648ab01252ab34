// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";

/** Bit-at-a-time reference, straight from the definition. */
function reference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i];
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function filled(length: number, value: (i: number) => number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = value(i);
  return out;
}

Deno.test("crc32 matches the CRC-32C check value of 123456789", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xe3069283);
});

Deno.test("crc32 of no bytes is 0", () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
});

Deno.test("crc32 matches the RFC 3720 (iSCSI) vectors", () => {
  assert.equal(crc32(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32(filled(32, () => 0xff)), 0x62a8ab43);
  assert.equal(crc32(filled(32, (i) => i)), 0x46dd794e);
  assert.equal(crc32(filled(32, (i) => 31 - i)), 0x113fdb5c);
});

Deno.test("crc32 agrees with a bit-at-a-time reference at every length and alignment", () => {
  const data = filled(300, (i) => (i * 131 + 7) & 0xff);
  for (let start = 0; start < 9; start++) {
    for (let end = start; end <= data.length; end += 7) {
      const view = data.subarray(start, end);
      assert.equal(crc32(view), reference(view), `bytes ${start}..${end}`);
    }
  }
});

Deno.test("crc32 continues over split input with initial", () => {
  const data = filled(1000, (i) => (i * 7) & 0xff);
  const whole = crc32(data);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), whole, `cut at ${cut}`);
  }
});

Deno.test("crc32 detects a single flipped bit", () => {
  const data = filled(64, (i) => i);
  const before = crc32(data);
  data[40] ^= 0x10;
  assert.notEqual(crc32(data), before);
});
