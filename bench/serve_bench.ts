/**
 * `wgllama serve` under load, over real HTTP: aggregate decode tokens/s and requests/s at 1, 4,
 * 8 and 16 concurrent clients (each sending greedy completions back to back), time to first token
 * of a ~500-token prompt and of a second one sharing its first 500 tokens (prefix caching), and
 * the server's resident memory over many sequential requests.
 * Run: deno task bench:serve [MODEL] [--requests N] [--tokens N] [--sequential N] [--json]
 */
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    requests: { type: "string", default: "4" },
    tokens: { type: "string", default: "32" },
    sequential: { type: "string", default: "1000" },
    json: { type: "boolean" },
  },
});
const model = positionals[0] ?? "stories-260k";
const perClient = Number(values.requests);
const maxTokens = Number(values.tokens);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    MAIN,
    "serve",
    model,
    "--port",
    "0",
    "--parallel",
    "16",
    "--quiet",
    "--model-id",
    "m",
  ],
  stdout: "null",
  stderr: "piped",
}).spawn();
const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
let banner = "";
let url = "";
while (!url) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`serve exited: ${banner}`);
  banner += value;
  url = banner.match(/on (http:\/\/[\d.]+:\d+\/v1)/)?.[1] ?? "";
}
const context = Number(banner.match(/context (\d+)/)?.[1] ?? 512);

async function complete(
  prompt: string | number[],
  max: number,
): Promise<{ tokens: number; ttft: number }> {
  const t0 = performance.now();
  const r = await fetch(`${url}/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", prompt, max_tokens: max, temperature: 0, stream: true }),
  });
  // A refused request is a broken benchmark, never a fast one.
  if (!r.ok) throw new Error(`serve answered ${r.status}: ${await r.text()}`);
  let ttft = 0;
  let tokens = 0;
  let text = "";
  for await (const piece of r.body!.pipeThrough(new TextDecoderStream())) {
    if (!ttft && piece.includes('"text"')) ttft = (performance.now() - t0) / 1000;
    text += piece;
  }
  for (const m of text.matchAll(/"completion_tokens":(\d+)/g)) tokens = Number(m[1]);
  tokens ||= (text.match(/"text":"[^"]/g) ?? []).length;
  return { tokens, ttft };
}

const words = "the cat sat on a mat and saw a big red ball in the sun".split(" ");
const promptOf = (i: number, n = 6) =>
  Array.from({ length: n }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(" ");

const concurrency: Record<string, { tokens_per_second: number; requests_per_second: number }> = {};
await complete("warm up", 4);
for (const clients of [1, 4, 8, 16]) {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let n = 0;
    for (let r = 0; r < perClient; r++) {
      n += (await complete(promptOf(c * 31 + r), maxTokens)).tokens;
    }
    return n;
  }));
  const seconds = (performance.now() - t0) / 1000;
  const tokens = counts.reduce((a, b) => a + b, 0);
  concurrency[clients] = {
    tokens_per_second: tokens / seconds,
    requests_per_second: (clients * perClient) / seconds,
  };
}

// A long prompt (token ids), then another sharing its first 500 (or most of a shorter context).
const long = Array.from({ length: Math.min(500, context - 12) }, (_, i) => 100 + ((i * 37) % 300));
const cold = await complete([...long, 11], 4);
const warm = await complete([...long, 12], 4);

// Memory over many sequential requests: resident set after the first tenth and at the end.
const rss = async () => {
  const status = await Deno.readTextFile(`/proc/${child.pid}/status`).catch(() => "");
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * 1024;
};
const sequential = Number(values.sequential);
let early = 0;
for (let i = 0; i < sequential; i++) {
  await complete(promptOf(i, 3), 4);
  if (i === Math.floor(sequential / 10)) early = await rss();
}
const late = await rss();
child.kill("SIGTERM");
await child.status;

const report = {
  model,
  max_tokens: maxTokens,
  requests_per_client: perClient,
  concurrency,
  speedup_8_vs_1: concurrency[8]!.tokens_per_second / concurrency[1]!.tokens_per_second,
  ttft_cold_seconds: cold.ttft,
  ttft_cached_prefix_seconds: warm.ttft,
  ttft_ratio: warm.ttft / cold.ttft,
  rss_after_tenth_bytes: early,
  rss_at_end_bytes: late,
  sequential_requests: sequential,
};
if (values.json) console.log(JSON.stringify(report));
else {
  console.log(`wgllama serve ${model}: greedy completions of ${maxTokens} tokens`);
  for (const [c, r] of Object.entries(concurrency)) {
    console.log(
      `  ${c.padStart(2)} clients: ${r.tokens_per_second.toFixed(1)} tokens/s, ${
        r.requests_per_second.toFixed(2)
      } requests/s`,
    );
  }
  console.log(`  8 clients / 1 client: ${report.speedup_8_vs_1.toFixed(2)}×`);
  console.log(
    `  time to first token: ${(cold.ttft * 1000).toFixed(0)} ms fresh, ${
      (warm.ttft * 1000).toFixed(0)
    } ms sharing the prefix (${report.ttft_ratio.toFixed(2)}×)`,
  );
  console.log(
    `  RSS: ${(early / 2 ** 20).toFixed(0)} MiB after ${
      Math.floor(sequential / 10) + 1
    } requests, ${(late / 2 ** 20).toFixed(0)} MiB after ${sequential}`,
  );
}
