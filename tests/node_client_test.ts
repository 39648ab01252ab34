// Copyright mb authors. MIT license.
// The client, bundled with `deno bundle`, runs unchanged under Node.js
// against a real broker over TCP, TLS and a unix socket.

import assert from "node:assert/strict";
import { ROOT, startBroker, tempSocketPath, testCertificate } from "./_helpers.ts";

async function bundleClient(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mb-node-" });
  const out = `${dir}/mb.mjs`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform=deno", "-o", out, `${ROOT}mod.ts`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(result.success, `deno bundle failed: ${new TextDecoder().decode(result.stderr)}`);
  return out;
}

async function runNode(args: string[]): Promise<Record<string, unknown>> {
  let output;
  try {
    output = await new Deno.Command("node", {
      args: [`${ROOT}tests/node/client_check.mjs`, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(`This test needs Node.js 20 or newer on PATH (apt install nodejs): ${error}`);
  }
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `node failed (${output.code}): ${stderr}${stdout}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

Deno.test("Client bundled by deno bundle runs under Node.js over TCP, TLS and unix", async (t) => {
  const bundle = await bundleClient();
  const { ca, cert, key, caPath } = await testCertificate();
  const socket = await tempSocketPath();
  await using broker = await startBroker({ tls: { cert, key, port: 0 }, unixPath: socket });
  const tlsPort = broker.addresses.find((a) => a.transport === "tls")!.port;
  const urls: [string, string[]][] = [
    ["tcp", [broker.url]],
    ["tls", [`tls://localhost:${tlsPort}`, caPath]],
    ["unix", [`unix://${socket}`]],
  ];
  assert.ok(ca.length > 0);
  for (const [name, args] of urls) {
    await t.step(`over ${name}`, async () => {
      const result = await runNode([bundle, ...args]);
      const major = Number(String(result.version).split(".")[0]);
      assert.ok(major >= 20, `Node.js ${result.version}`);
      const seen = result.seen as {
        topic: string;
        text: string;
        headers: Record<string, string>;
      }[];
      assert.equal(seen.length, 2);
      assert.equal(seen[0].text, "hello from node");
      assert.deepEqual(seen[0].headers, { runtime: "node" });
      assert.equal(seen[1].text, "\x01\x02\x03");
      assert.equal(result.reply, "re:q");
      assert.equal(result.noResponders, "NO_RESPONDERS");
      assert.equal(result.closed, true);
    });
  }
  await Deno.remove(bundle.slice(0, bundle.lastIndexOf("/")), { recursive: true });
});
