/** A spawned `wgllama serve` for tests: its URL, an `openai` client, its log, and a stop. */
import OpenAI from "openai";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A running server. */
export interface Server {
  url: string;
  client: OpenAI;
  log: () => string;
  /** Signals the process (default SIGINT) and resolves with its exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Starts `wgllama serve` on a free port and waits until it listens. */
export async function startServer(
  model: string,
  args: string[] = [],
  apiKey = "none",
  permissions = ["-A"],
  env: Record<string, string> = {},
): Promise<Server> {
  const port = args.includes("--port") ? [] : ["--port", "0"];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, MAIN, "serve", model, ...port, ...args],
    stdout: "null",
    stderr: "piped",
    env,
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let url = "";
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited: ${stderr}`);
    stderr += value;
    url = stderr.match(/on (http:\/\/[\d.]+:\d+\/v1)/)?.[1] ?? "";
  }
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      stderr += value;
    }
  })();
  let status: Promise<Deno.CommandStatus> | undefined;
  return {
    url,
    client: new OpenAI({ baseURL: url, apiKey, maxRetries: 0 }),
    log: () => stderr,
    async stop(signal: Deno.Signal = "SIGINT") {
      if (!status) {
        child.kill(signal);
        status = child.status;
      }
      const { code } = await status;
      await pump;
      return code;
    },
  };
}
