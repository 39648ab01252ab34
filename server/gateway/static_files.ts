// Copyright mb authors. MIT license.

/** Where {@linkcode serveStatic} reads files from. */
export interface StaticFilesOptions {
  /** The directory served, a `file:` URL ending in `/`; any other scheme serves nothing. */
  root: URL;
  /** The URL path the directory appears under, like `/examples` (no trailing slash). */
  prefix: string;
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  json: "application/json; charset=utf-8",
  png: "image/png",
  svg: "image/svg+xml",
  txt: "text/plain; charset=utf-8",
};

/**
 * Answers a `GET` or `HEAD` for a file under `options.prefix` from
 * `options.root`: `index.html` for a directory path ending in `/`, a
 * content type from the extension (.html, .js, .css, .map, .json, .png,
 * .svg, .txt), 404 for anything missing, hidden (a segment starting with
 * `.`) or outside the root (`..`, encoded slashes, symbolic links leading
 * out).
 *
 * @param request The request; its path starts with `options.prefix`.
 * @param options The directory and the URL prefix.
 * @returns The file, a redirect to the path with a trailing `/`, or an
 * error response with a JSON body.
 *
 * @example Serve a directory under /examples
 * ```ts
 * import { serveStatic } from "./static_files.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/index.html`, "<h1>hi</h1>");
 * const options = { root: new URL(`file://${dir}/`), prefix: "/examples" };
 * const page = await serveStatic(new Request("http://localhost/examples/"), options);
 * assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
 * assert.equal(await page.text(), "<h1>hi</h1>");
 * const outside = await serveStatic(new Request("http://localhost/examples/..%2fx"), options);
 * assert.equal(outside.status, 404);
 * await outside.body?.cancel();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function serveStatic(
  request: Request,
  options: StaticFilesOptions,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return errorResponse(405, "METHOD_NOT_ALLOWED", `Cannot ${request.method} a static file`, {
      allow: "GET, HEAD",
    });
  }
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === options.prefix) {
    return new Response(null, { status: 301, headers: { location: `${path}/${url.search}` } });
  }
  const notFound = () => errorResponse(404, "NOT_FOUND", `No file at ${path}`);
  if (options.root.protocol !== "file:" || !path.startsWith(`${options.prefix}/`)) {
    return notFound();
  }
  const segments = path.slice(options.prefix.length + 1).split("/");
  if (segments[segments.length - 1] === "") segments[segments.length - 1] = "index.html";
  for (let i = 0; i < segments.length; i++) {
    let segment: string;
    try {
      segment = decodeURIComponent(segments[i]);
    } catch {
      return notFound();
    }
    if (
      segment === "" || segment.startsWith(".") || segment.includes("/") ||
      segment.includes("\\") || segment.includes("\0")
    ) return notFound();
    segments[i] = encodeURIComponent(segment);
  }
  const file = new URL(segments.join("/"), options.root);
  let body: Uint8Array<ArrayBuffer>;
  try {
    const [root, real] = await Promise.all([
      Deno.realPath(options.root),
      Deno.realPath(file),
    ]);
    if (!real.startsWith(`${root}/`) && !real.startsWith(`${root}\\`)) return notFound();
    const info = await Deno.stat(real);
    if (info.isDirectory) {
      return new Response(null, { status: 301, headers: { location: `${path}/${url.search}` } });
    }
    if (!info.isFile) return notFound();
    body = await Deno.readFile(real);
  } catch {
    return notFound();
  }
  const name = segments[segments.length - 1];
  const dot = name.lastIndexOf(".");
  const type = (dot >= 0 ? CONTENT_TYPES[name.slice(dot + 1).toLowerCase()] : undefined) ??
    "application/octet-stream";
  return new Response(request.method === "HEAD" ? null : body, {
    headers: {
      "content-type": type,
      "content-length": String(body.length),
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    },
  });
}

function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ error: { code, message } }, { status, headers });
}
