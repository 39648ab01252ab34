// Copyright mb authors. MIT license.
// The machine and the software versions, for the header of the report.

import type { BrokerSpec } from "./brokers.ts";
import { findExecutable, run } from "./commands.ts";

/** Where the benchmark ran. */
export interface Machine {
  /** Logical CPUs. */
  nproc: number;
  /** CPU model from /proc/cpuinfo. */
  cpu: string;
  /** Kernel release. */
  kernel: string;
  /** Total memory in GiB. */
  memoryGiB: number;
}

/**
 * Describes this machine.
 *
 * @returns The machine.
 */
export async function describeMachine(): Promise<Machine> {
  let cpu = "unknown";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  return {
    nproc: navigator.hardwareConcurrency,
    cpu,
    kernel: Deno.osRelease(),
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
  };
}

/**
 * Versions of Deno, Node.js and each broker.
 *
 * @param brokers The brokers in the run.
 * @returns Name to version.
 */
export async function collectVersions(
  brokers: readonly BrokerSpec[],
): Promise<Record<string, string>> {
  const versions: Record<string, string> = { deno: Deno.version.deno };
  const node = findExecutable("node");
  versions.node = node === undefined
    ? "not installed"
    : (await run(node, ["--version"])).stdout.trim().replace(/^v/, "");
  for (const broker of brokers) versions[broker.label] = await broker.version();
  return versions;
}
