/** Runs the CLI as a user does: a spawned `deno run main.ts …` with optional stdin. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawns `wgllama ...args` and collects its output. */
export async function wgllama(
  args: string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string> } = {},
) {
  return (await wgllamaMeasured(args, options)).result;
}

/**
 * Spawns `wgllama ...args` like {@linkcode wgllama}, also sampling the process's peak resident
 * memory (Linux VmHWM, a high-water mark, read every 20 ms while it runs).
 */
export async function wgllamaMeasured(
  args: string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string> } = {},
): Promise<{ result: CliResult; peakRssBytes: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-ffi", "--allow-env", MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  let peakRssBytes = 0;
  const poll = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      peakRssBytes = Math.max(peakRssBytes, kb * 1024);
    } catch { /* exited, or not Linux */ }
  }, 20);
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    const { stdin } = options;
    await w.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await w.close();
  }
  const { code, stdout, stderr } = await child.output();
  clearInterval(poll);
  const dec = new TextDecoder();
  const result = { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
  return { result, peakRssBytes };
}
