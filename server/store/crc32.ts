// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`), the checksum of
 * iSCSI, ext4, Kafka record batches and LevelDB. Table-driven, eight bytes a
 * step ("slicing-by-8"), so it runs at several hundred MB/s in V8.
 *
 * @module
 */

const POLYNOMIAL = 0x82f63b78;

function makeTables(): Int32Array[] {
  const tables: Int32Array[] = [];
  for (let t = 0; t < 8; t++) tables.push(new Int32Array(256));
  const t0 = tables[0];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    t0[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n];
    for (let t = 1; t < 8; t++) {
      c = t0[c & 0xff] ^ (c >>> 8);
      tables[t][n] = c;
    }
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = makeTables();

/**
 * Computes the CRC-32C (Castagnoli) checksum of `bytes`. Pass a previous
 * result as `initial` to continue a checksum over split input:
 * `crc32(b, crc32(a))` equals the checksum of `a` followed by `b`.
 *
 * The name is short for the family; the polynomial is Castagnoli's, not the
 * IEEE one of zip and PNG (`"123456789"` gives `0xE3069283`, not `0xCBF43926`).
 *
 * @param bytes The data.
 * @param initial The checksum of the data before `bytes`; `0` (the default) to start.
 * @returns The checksum as an unsigned 32-bit integer.
 *
 * @example The check value, and continuing over split input
 * ```ts
 * import { crc32 } from "./crc32.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("123456789");
 * assert.equal(crc32(bytes), 0xe3069283);
 * assert.equal(crc32(bytes.subarray(4), crc32(bytes.subarray(0, 4))), 0xe3069283);
 * ```
 */
export function crc32(bytes: Uint8Array, initial: number = 0): number {
  let crc = ~initial;
  const n = bytes.length;
  let i = 0;
  const end8 = n - 7;
  for (; i < end8; i += 8) {
    const a = crc ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc = T7[a & 0xff] ^ T6[(a >>> 8) & 0xff] ^ T5[(a >>> 16) & 0xff] ^ T4[a >>> 24] ^
      T3[bytes[i + 4]] ^ T2[bytes[i + 5]] ^ T1[bytes[i + 6]] ^ T0[bytes[i + 7]];
  }
  for (; i < n; i++) crc = T0[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
