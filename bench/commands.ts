// Copyright mb authors. MIT license.
// Finding executables and running short commands (versions, installs).

/** Directories searched after PATH: Debian puts daemons in sbin, often not on a user's PATH. */
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The full path of an executable, searched on PATH and in the sbin
 * directories.
 *
 * @param name The executable's name.
 * @returns Its path, or `undefined` when it is nowhere.
 */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/** What a finished command printed. */
export interface CommandOutput {
  /** Whether it exited 0. */
  success: boolean;
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. @default {the current one} */
  cwd?: string;
}

/**
 * Runs a command to completion and collects its output.
 *
 * @param command The executable.
 * @param args Its arguments.
 * @param options Environment and working directory.
 * @returns Exit status and output; a command that cannot start gives code -1.
 */
export async function run(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandOutput> {
  try {
    const output = await new Deno.Command(command, {
      args,
      env: options.env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      success: output.success,
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    return { success: false, code: -1, stdout: "", stderr: String(error) };
  }
}
