// Copyright mb authors. MIT license.

import assert from "node:assert/strict";
import { serveStatic, type StaticFilesOptions } from "./static_files.ts";

async function withSite(
  run: (options: StaticFilesOptions, dir: string) => Promise<void>,
): Promise<void> {
  const parent = await Deno.makeTempDir({ prefix: "mb-static-" });
  const dir = `${parent}/site`;
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  await Deno.writeTextFile(`${dir}/index.html`, "<h1>mb</h1>");
  await Deno.writeTextFile(`${dir}/mb.js`, "export {};");
  await Deno.writeTextFile(`${dir}/mb.js.map`, "{}");
  await Deno.writeTextFile(`${dir}/lib/style.css`, "body{}");
  await Deno.writeTextFile(`${dir}/data.json`, "[]");
  await Deno.writeFile(`${dir}/logo.png`, new Uint8Array([0x89, 0x50]));
  await Deno.writeTextFile(`${dir}/.env`, "SECRET=1");
  await Deno.writeTextFile(`${parent}/secret.txt`, "outside");
  await Deno.symlink(`${parent}/secret.txt`, `${dir}/link.txt`);
  try {
    await run({ root: new URL(`file://${dir}/`), prefix: "/examples" }, dir);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
}

function get(path: string, method = "GET"): Request {
  return new Request(`http://localhost${path}`, { method });
}

Deno.test("serveStatic serves files with a content type by extension and index.html for /", async () => {
  await withSite(async (options) => {
    const expected: [string, string, string][] = [
      ["/examples/", "text/html; charset=utf-8", "<h1>mb</h1>"],
      ["/examples/index.html", "text/html; charset=utf-8", "<h1>mb</h1>"],
      ["/examples/mb.js", "text/javascript; charset=utf-8", "export {};"],
      ["/examples/mb.js.map", "application/json; charset=utf-8", "{}"],
      ["/examples/lib/style.css", "text/css; charset=utf-8", "body{}"],
      ["/examples/data.json", "application/json; charset=utf-8", "[]"],
      ["/examples/logo.png", "image/png", "\x89P"],
    ];
    for (const [path, type, body] of expected) {
      const response = await serveStatic(get(path), options);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("content-type"), type, path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.deepEqual(bytes, Uint8Array.from(body, (c) => c.charCodeAt(0)), path);
    }
    const head = await serveStatic(get("/examples/mb.js", "HEAD"), options);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "10");
    assert.equal(head.body, null);
  });
});

Deno.test("serveStatic redirects a directory to its path with a slash", async () => {
  await withSite(async (options) => {
    for (
      const [path, location] of [["/examples", "/examples/"], ["/examples/lib", "/examples/lib/"]]
    ) {
      const response = await serveStatic(get(path), options);
      assert.equal(response.status, 301, path);
      assert.equal(response.headers.get("location"), location);
    }
  });
});

Deno.test("serveStatic refuses paths outside the root, hidden files, and other methods", async () => {
  await withSite(async (options) => {
    for (
      const path of [
        "/examples/../secret.txt",
        "/examples/..%2fsecret.txt",
        "/examples/%2e%2e%2fsecret.txt",
        "/examples/lib/..%2F..%2Fsecret.txt",
        "/examples/..%5csecret.txt",
        "/examples/.env",
        "/examples/link.txt",
        "/examples/missing.js",
        "/examples/%00",
        "/examples/%E0%A4%A",
        "/examples//mb.js",
      ]
    ) {
      // Request normalizes plain `..`; build the URL so the raw path survives.
      const request = new Request(`http://localhost${path}`);
      const response = await serveStatic(request, options);
      const body = await response.text();
      assert.ok(response.status === 404 || response.status === 301, `${path}: ${response.status}`);
      assert.ok(!body.includes("outside") && !body.includes("SECRET"), path);
    }
    const post = await serveStatic(get("/examples/mb.js", "POST"), options);
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  });
});

Deno.test("serveStatic serves nothing from a root that is not a file: URL", async () => {
  const options = { root: new URL("https://jsr.io/@x/mb/examples/browser/"), prefix: "/examples" };
  const response = await serveStatic(get("/examples/index.html"), options);
  assert.equal(response.status, 404);
  await response.body?.cancel();
});
