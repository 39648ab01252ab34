// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { encodeMessageSection } from "../../protocol/encode.ts";
import { MbError } from "../../protocol/errors.ts";
import { DurableStore } from "./durable_store.ts";

const MESSAGE = encodeMessageSection("t/1", "", undefined, new Uint8Array([1]));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return error instanceof MbError ? error.code : String(error);
  }
}

for (const kind of ["memory", "disk"] as const) {
  Deno.test(`DurableStore (${kind}) runs delete, create, delete of one name in order, leaving nothing bound`, async () => {
    const dir = kind === "disk" ? await Deno.makeTempDir() : undefined;
    try {
      await using store = await DurableStore.open({ dir, fsync: "never" });
      await store.command("stream.create", { name: "s", topics: ["t/#"] });
      await store.command("queue.declare", { name: "q", topics: ["t/#"] });
      const results = await Promise.all([
        codeOf(store.command("stream.delete", { name: "s" })),
        codeOf(store.command("stream.create", { name: "s", topics: ["t/#"] })),
        codeOf(store.command("stream.delete", { name: "s" })),
        codeOf(store.command("stream.delete", { name: "s" })),
        codeOf(store.command("queue.delete", { name: "q" })),
        codeOf(store.command("queue.delete", { name: "q" })),
        codeOf(store.command("queue.purge", { name: "q" })),
      ]);
      assert.deepEqual(results, [
        "ok",
        "ok",
        "ok",
        "STREAM_UNKNOWN",
        "ok",
        "QUEUE_UNKNOWN",
        "QUEUE_UNKNOWN",
      ]);
      assert.deepEqual(await store.command("stream.list", {}), []);
      assert.deepEqual(await store.command("queue.list", {}), []);
      assert.equal(store.capture("t/1", MESSAGE), false, "no stream or queue captures t/1");
    } finally {
      if (dir !== undefined) await Deno.remove(dir, { recursive: true });
    }
  });
}
