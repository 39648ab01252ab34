// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { MbError } from "./errors.ts";
import { MAX_HEADER_BYTES } from "./frames.ts";
import { decodeHeaders, encodeHeaders } from "./headers.ts";

function isHeadersInvalid(error: unknown): true {
  assert.ok(error instanceof MbError, `expected an MbError, got ${error}`);
  assert.equal(error.code, "HEADERS_INVALID");
  return true;
}

Deno.test("encodeHeaders and decodeHeaders round-trip names and values", () => {
  const cases: Record<string, string>[] = [
    { a: "b" },
    { "content-type": "application/json", "x-trace": "" },
    { "ключ": "значение", "名前": "値", emoji: "😀🚀", "é": "\u0000\ufffd" },
    { long: "x".repeat(60000) },
  ];
  for (const headers of cases) {
    const block = encodeHeaders(headers);
    assert.ok(block instanceof Uint8Array);
    assert.deepStrictEqual(decodeHeaders(block), headers);
  }
});

Deno.test("encodeHeaders returns undefined for no headers", () => {
  assert.equal(encodeHeaders({}), undefined);
  assert.deepStrictEqual(decodeHeaders(new Uint8Array(0)), {});
});

Deno.test("encodeHeaders writes length-prefixed UTF-8 names and values", () => {
  assert.deepStrictEqual(
    Array.from(encodeHeaders({ a: "é", bc: "" })!),
    [0, 1, 0x61, 0, 2, 0xc3, 0xa9, 0, 2, 0x62, 0x63, 0, 0],
  );
});

Deno.test("decodeHeaders keeps a header named __proto__ as an own field", () => {
  const headers = JSON.parse('{"__proto__": "x", "a": "b"}') as Record<string, string>;
  const decoded = decodeHeaders(encodeHeaders(headers)!);
  assert.deepStrictEqual(Object.keys(decoded), ["__proto__", "a"]);
  assert.equal(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value, "x");
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
});

Deno.test("encodeHeaders rejects an empty header name", () => {
  assert.throws(() => encodeHeaders({ "": "value" }), isHeadersInvalid);
  assert.throws(() => encodeHeaders({ a: "1", "": "" }), isHeadersInvalid);
});

Deno.test("encodeHeaders rejects a block over MAX_HEADER_BYTES", () => {
  // One entry costs 4 length bytes plus name and value.
  const fits = { k: "v".repeat(MAX_HEADER_BYTES - 5) };
  assert.equal(encodeHeaders(fits)!.length, MAX_HEADER_BYTES);
  assert.throws(() => encodeHeaders({ k: "v".repeat(MAX_HEADER_BYTES - 4) }), isHeadersInvalid);
  // Counted in UTF-8 bytes, not characters: 3 bytes per "€".
  assert.throws(() => encodeHeaders({ k: "€".repeat(21844) }), isHeadersInvalid);
  const many: Record<string, string> = {};
  for (let i = 0; i < 5000; i++) many[`header-${i}`] = "value";
  assert.throws(() => encodeHeaders(many), isHeadersInvalid);
});

Deno.test("decodeHeaders rejects a truncated block", () => {
  const block = encodeHeaders({ name: "välue" })!;
  for (let end = 1; end < block.length; end++) {
    assert.throws(() => decodeHeaders(block.subarray(0, end)), isHeadersInvalid, `cut at ${end}`);
  }
  const two = encodeHeaders({ a: "1", b: "2" })!;
  assert.throws(() => decodeHeaders(two.subarray(0, two.length - 1)), isHeadersInvalid);
  assert.throws(() => decodeHeaders(new Uint8Array([0, 1, 0x61, 0, 9, 0x62])), isHeadersInvalid);
});
