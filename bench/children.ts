// Copyright mb authors. MIT license.
// Every child process and temporary directory the benchmark creates, so
// that an error or Ctrl-C ends and removes them all (each by its own
// handle, never by name).

const live = new Set<Deno.ChildProcess>();
const dirs = new Set<string>();
let installed = false;

/**
 * Registers a child to kill if the benchmark is interrupted; it is
 * forgotten by itself when it exits.
 *
 * @param child The child process.
 * @returns The same child.
 */
export function track(child: Deno.ChildProcess): Deno.ChildProcess {
  live.add(child);
  child.status.finally(() => live.delete(child));
  return child;
}

/**
 * Registers a temporary directory to remove if the benchmark is
 * interrupted.
 *
 * @param path The directory.
 * @returns A function that forgets it (call it after removing it yourself).
 */
export function trackDir(path: string): () => void {
  dirs.add(path);
  return () => dirs.delete(path);
}

/**
 * Sends `signal` to a child that may have exited already.
 *
 * @param child The child process.
 * @param signal The signal.
 */
export function signal(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch { /* already exited */ }
}

/**
 * Kills every tracked child and waits for them, then removes the tracked
 * directories.
 *
 * @returns Resolves when all have exited.
 */
export async function killAll(): Promise<void> {
  const children = [...live];
  for (const child of children) signal(child, "SIGKILL");
  await Promise.allSettled(children.map((child) => child.status));
  removeDirs();
}

function removeDirs(): void {
  for (const dir of dirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  }
  dirs.clear();
}

/**
 * On SIGINT or SIGTERM, kills every tracked child, removes the tracked
 * directories and exits with 130, all before any other code runs.
 * Installing twice is harmless.
 */
export function killChildrenOnSignal(): void {
  if (installed) return;
  installed = true;
  const stop = () => {
    console.error("\nInterrupted: stopped the brokers and load generators");
    for (const child of live) signal(child, "SIGKILL");
    removeDirs();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
