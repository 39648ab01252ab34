// Copyright mb authors. MIT license.
// The project's test command (`deno task test`, which the README and
// .ci/run call): installs the peers the tests meet when they are missing and
// this user may (root, apt), runs every test and doc example, and ends with
// one line `N passed, N failed` counted from the JUnit report.

if (Deno.env.get("MB_TEST_RUNNER") !== undefined) {
  console.error("run_tests.ts is already running in a parent process; refusing to recurse");
  Deno.exit(1);
}
Deno.env.set("MB_TEST_RUNNER", "1");

const PEERS: { command: string; apt: string; why: string }[] = [
  { command: "openssl", apt: "openssl", why: "TLS tests generate a certificate" },
  { command: "curl", apt: "curl", why: "the README's HTTP API examples run with curl" },
  { command: "node", apt: "nodejs", why: "the Node.js client test" },
  {
    command: "npm",
    apt: "npm",
    why: "the benchmark and MQTT tests install Aedes and MQTT.js from bench/peers",
  },
  { command: "nats-server", apt: "nats-server", why: "the benchmark test runs it beside mb" },
  { command: "mosquitto", apt: "mosquitto", why: "the benchmark test runs it beside mb" },
  {
    command: "mosquitto_pub",
    apt: "mosquitto-clients",
    why: "the MQTT tests run mosquitto_pub and mosquitto_sub against mb",
  },
  { command: "redis-server", apt: "redis-server", why: "the benchmark test runs it beside mb" },
  { command: "chromium", apt: "chromium", why: "the browser test" },
];

function has(command: string): boolean {
  try {
    const { success } = new Deno.Command("sh", {
      args: ["-c", `command -v ${command}`],
      stdout: "null",
    })
      .outputSync();
    return success;
  } catch {
    return false;
  }
}

const missing = PEERS.filter((peer) => !has(peer.command));
if (missing.length > 0) {
  const isRoot = Deno.uid?.() === 0;
  if (isRoot) {
    const packages = missing.map((peer) => peer.apt);
    console.error(`Installing test peers with apt: ${packages.join(" ")}`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await new Deno.Command("apt-get", { args: ["update", "-qq"], env }).output();
    const install = await new Deno.Command("apt-get", {
      args: ["install", "-y", "-qq", "--no-install-recommends", ...packages],
      env,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!install.success) {
      console.error("apt-get install failed; tests needing these peers will fail");
    }
  } else {
    for (const peer of missing) {
      console.error(`Missing ${peer.command} (${peer.why}); install ${peer.apt} or run as root`);
    }
  }
}

await Deno.mkdir("test-output", { recursive: true });
const junit = "test-output/junit.xml";
await Deno.remove(junit).catch(() => {});
const args = [
  "test",
  "-A",
  "--doc",
  "--v8-flags=--expose-gc",
  `--junit-path=${junit}`,
  ...Deno.args,
];
const run = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
  .output();

let passed = 0;
let failed = 0;
try {
  const xml = await Deno.readTextFile(junit);
  for (const match of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = match[2] ?? "";
    if (/<failure\b|<error\b/.test(body)) failed++;
    else if (!/<skipped\b/.test(body)) passed++;
  }
} catch (error) {
  console.error(`Cannot read ${junit}: ${error}`);
  failed++;
}
if (!run.success && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(run.success && failed === 0 ? 0 : 1);
