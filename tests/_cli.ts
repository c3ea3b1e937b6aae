/** Runs the CLI as a user does: a spawned `deno run main.ts …` with optional stdin. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How a CLI run is spawned. */
export interface CliOptions {
  stdin?: string | Uint8Array;
  /** Variables added to the environment (`undefined` removes one). */
  env?: Record<string, string | undefined>;
  /** Deno permission flags. @default read, write, ffi, env */
  permissions?: string[];
}

const ALL = ["--allow-read", "--allow-write", "--allow-ffi", "--allow-env"];

/** Spawns `wgllama ...args` and collects its output. */
export async function wgllama(args: string[], options: CliOptions = {}) {
  return (await wgllamaMeasured(args, options)).result;
}

/**
 * Spawns `wgllama ...args` like {@linkcode wgllama}, also sampling the process's peak resident
 * memory (Linux VmHWM, a high-water mark, read every 20 ms while it runs; 0 elsewhere).
 */
export async function wgllamaMeasured(
  args: string[],
  options: CliOptions = {},
): Promise<{ result: CliResult; peakRssBytes: number }> {
  const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ALL), MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env,
  }).spawn();
  // Deno reads /proc only with --allow-all: a shell polls the child's high-water mark instead.
  const watcher = new Deno.Command("sh", {
    args: [
      "-c",
      'while [ -e "/proc/$0/status" ]; do grep VmHWM "/proc/$0/status"; sleep 0.02; done',
      String(child.pid),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    const { stdin } = options;
    await w.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await w.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  const marks = dec.decode((await watcher.output()).stdout).matchAll(/VmHWM:\s+(\d+) kB/g);
  const peakRssBytes = Math.max(0, ...[...marks].map((m) => Number(m[1]) * 1024));
  const result = { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
  return { result, peakRssBytes };
}
