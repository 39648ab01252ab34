// Copyright mb authors. MIT license.
// The browser example (examples/browser/) in headless Chromium, driven by
// playwright-core: the page, served by the broker's web listener, talks to
// Deno clients through the bundled client over WebSocket, and reconnects
// when the broker restarts on the same port. Needs Debian's `chromium`.

import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { connect } from "../mod.ts";
import { ROOT, startBroker, take, uniqueTopic } from "./_helpers.ts";

const CHROMIUM = Deno.env.get("MB_CHROMIUM") ?? "/usr/bin/chromium";
/** Longest wait for anything the page does. */
const PAGE_MS = 10_000;

async function buildBundle(): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "bundle:browser"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(
    output.success,
    `deno task bundle:browser failed: ${new TextDecoder().decode(output.stderr)}`,
  );
  const bundle = await Deno.readTextFile(`${ROOT}examples/browser/mb.js`);
  assert.doesNotMatch(bundle, /node:net|node:tls|Deno\.connect/, "no socket transport bundled");
}

async function launchChromium(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `This test needs Chromium at ${CHROMIUM} (apt install chromium, or set MB_CHROMIUM)`,
    );
  }
  return await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** What the page logged, for failure messages. */
function pageLog(page: Page): string[] {
  const log: string[] = [];
  page.on("console", (msg) => log.push(`console.${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (error) => log.push(`page error: ${error.message}`));
  return log;
}

async function waitForState(page: Page, state: string, log: string[]): Promise<void> {
  try {
    await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout: PAGE_MS });
  } catch (error) {
    const shown = await page.locator("#status").textContent();
    throw new Error(
      `The page did not reach status ${JSON.stringify(state)} (shows ${JSON.stringify(shown)}); ` +
        `page log:\n${log.join("\n")}`,
      { cause: error },
    );
  }
}

async function waitForMessage(page: Page, text: string): Promise<void> {
  await page.locator("#messages li", { hasText: text }).waitFor({ timeout: PAGE_MS });
}

Deno.test("examples/browser in headless Chromium: pub/sub with Deno clients over ws, across a broker restart", async () => {
  await buildBundle();
  const first = await startBroker({ httpPort: 0 });
  const port = first.addresses.find((a) => a.transport === "http")!.port;
  let second: Awaited<ReturnType<typeof startBroker>> | undefined;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const log = pageLog(page);
    await page.goto(`http://127.0.0.1:${port}/examples/`);
    await waitForState(page, "connected", log);
    await page.locator('#subscription[data-pattern="demo/#"]').waitFor({ timeout: PAGE_MS });

    // Subscribe the page to this test's own topics through the form.
    const topic = uniqueTopic("browser");
    await page.fill("#pattern", `${topic}/#`);
    await page.click("#subscribe-form button");
    await page.locator(`#subscription[data-pattern="${topic}/#"]`).waitFor({ timeout: PAGE_MS });

    // Deno -> page.
    {
      await using deno = await connect(first.url);
      await deno.publish(`${topic}/from-deno`, "hello page");
      await waitForMessage(page, "hello page");
    }

    // Page -> Deno.
    {
      await using deno = await connect(first.url);
      const sub = deno.subscribe(`${topic}/#`);
      await deno.flush();
      await page.fill("#topic", `${topic}/from-page`);
      await page.fill("#message", "hello deno");
      await page.click("#publish-form button");
      const [msg] = await take(sub[Symbol.asyncIterator](), 1, PAGE_MS, "message from the page");
      assert.equal(msg.topic, `${topic}/from-page`);
      assert.equal(msg.text(), "hello deno");
    }

    // The broker restarts on the same port: the page reconnects by itself
    // and its subscription is restored.
    await first.stop();
    await waitForState(page, "reconnecting", log);
    second = await startBroker({ httpPort: port });
    await waitForState(page, "connected", log);
    {
      await using deno = await connect(second.url);
      const sub = deno.subscribe(`${topic}/#`);
      await deno.flush();
      await deno.publish(`${topic}/again`, "hello again");
      await waitForMessage(page, "hello again");
      await page.fill("#message", "back again");
      await page.click("#publish-form button");
      const texts: string[] = [];
      const iterator = sub[Symbol.asyncIterator]();
      while (!texts.includes("back again")) {
        const [next] = await take(iterator, 1, PAGE_MS, "message from the page after restart");
        texts.push(next.text());
      }
    }

    await Deno.mkdir(`${ROOT}test-output`, { recursive: true });
    await page.screenshot({ path: `${ROOT}test-output/browser.png`, fullPage: true });
  } finally {
    await browser.close();
    await first.stop();
    await second?.stop();
  }
});
