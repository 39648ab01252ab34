// Copyright mb authors. MIT license.
// Installs what the chosen brokers need when it is missing: Debian packages
// with apt-get when running as root, and Aedes with npm into bench/peers.
// Otherwise it fails with a message naming the package.

import { type BrokerSpec, ROOT } from "./brokers.ts";
import { findExecutable, run } from "./commands.ts";

/** The npm project that pins Aedes; see its package.json and package-lock.json. */
export const PEERS_DIR: string = `${ROOT}bench/peers`;

/**
 * Makes sure every executable and npm package the brokers need is there.
 *
 * @param brokers The brokers about to run.
 * @param needTaskset Whether `taskset` (util-linux) is needed for pinning.
 * @param log Where progress messages go.
 * @throws {Error} Naming the missing package, when it cannot be installed.
 */
export async function ensurePeers(
  brokers: readonly BrokerSpec[],
  needTaskset: boolean,
  log: (line: string) => void,
): Promise<void> {
  const requirements = brokers.flatMap((broker) => broker.requires);
  if (needTaskset) requirements.push({ command: "taskset", apt: "util-linux" });
  const missing = requirements.filter((r) => findExecutable(r.command) === undefined);
  const packages = [...new Set(missing.map((r) => r.apt))];
  if (packages.length > 0) {
    const names = missing.map((r) => `${r.command} (Debian package ${r.apt})`).join(", ");
    if (Deno.uid?.() !== 0) {
      throw new Error(
        `Missing ${names}: install with "apt-get install -y ${packages.join(" ")}", ` +
          "or run the benchmark as root to have it installed",
      );
    }
    log(`Installing with apt-get: ${packages.join(" ")}`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    await run("apt-get", ["update", "-qq"], { env });
    const install = await run(
      "apt-get",
      ["install", "-y", "-qq", "--no-install-recommends", ...packages],
      { env },
    );
    const still = missing.filter((r) => findExecutable(r.command) === undefined);
    if (!install.success || still.length > 0) {
      throw new Error(
        `Cannot install ${still.map((r) => r.apt).join(" ") || packages.join(" ")} with apt-get: ` +
          install.stderr.trim().split("\n").slice(-5).join("\n"),
      );
    }
  }
  if (brokers.some((broker) => broker.needsNpmPeers)) await ensureNpmPeers(log);
}

/**
 * Installs the npm packages of bench/peers (Aedes, MQTT.js) with `npm ci`
 * unless they are there.
 *
 * @param log Receives a line when it installs.
 * @throws {Error} When npm is missing or the install fails.
 */
export async function ensureNpmPeers(log: (line: string) => void): Promise<void> {
  try {
    await Deno.stat(`${PEERS_DIR}/node_modules/aedes/package.json`);
    await Deno.stat(`${PEERS_DIR}/node_modules/mqtt/package.json`);
    return;
  } catch { /* not installed yet */ }
  log("Installing Aedes and MQTT.js: npm ci --prefix bench/peers");
  const npm = findExecutable("npm");
  if (npm === undefined) {
    throw new Error("Missing npm (Debian package npm), needed for Aedes and MQTT.js");
  }
  const install = await run(npm, ["ci", "--prefix", PEERS_DIR, "--no-audit", "--no-fund"]);
  if (!install.success) {
    throw new Error(
      `Cannot install Aedes and MQTT.js (npm ci --prefix bench/peers): ${
        install.stderr.trim().slice(-2000)
      }`,
    );
  }
}
