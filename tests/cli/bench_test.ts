import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";

Deno.test("wgllama bench MODEL --json reports every figure, batched decode without per-token readbacks", async () => {
  const r = await wgllama([
    "bench",
    fixture("tiny-bf16-tied"),
    "--prefill",
    "5,9",
    "--contexts",
    "8,700",
    "--steps",
    "4",
    "--profile",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (
    const key of ["copy_bandwidth_gb_s", "read_bandwidth_gb_s", "load_seconds", "peak_rss_bytes"]
  ) {
    assert(j[key] > 0, `${key} = ${j[key]}`);
  }
  assertEquals(Object.keys(j.prefill_tokens_per_s), ["5", "9"]);
  assertEquals(Object.keys(j.decode_efficiency), ["8", "700"]);
  assert(Object.values(j.decode_tokens_per_s).every((v) => (v as number) > 0));
  assertEquals([j.submits_per_token, j.readbacks_per_token], [0.25, 0.25]); // 4 steps, one batch
  // Dispatches of a greedy decode step at the longest context, from the plan: per layer (3)
  // norm·qkv·rope·kv-write, attention (split and combine: 700 keys are more than one split on
  // any adapter, 256 keys on GPUs, 2048 / 3 on software ones), o + residual, norm·gate|up·silu,
  // down + residual; then embedding, lm_head and sampling (one launch: a one-slice vocabulary).
  assertEquals(j.launches_per_token, 6 * 3 + 3);
  assert(
    j.profile["8"].some((row: { name: string }) => row.name === "gateUp"),
    JSON.stringify(j.profile),
  );
  assertEquals((await wgllama(["bench", "--shape", "7b"])).code, 2);
});

Deno.test("wgllama bench on a model trained for 512 positions clamps longer lengths and says so", async () => {
  const r = await wgllama([
    "bench",
    "stories-260k",
    "--prefill",
    "16,600",
    "--contexts",
    "8,2048",
    "--steps",
    "4",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(Object.keys(j.prefill_tokens_per_s), ["16", "512"]);
  assertEquals(Object.keys(j.perplexity_tokens_per_s), ["16", "512"]);
  assertEquals(Object.keys(j.decode_tokens_per_s), ["8", "506"]);
  assertEquals(j.warnings.length, 2, r.stdout);
  assert(
    r.stderr.includes("trained for 512 positions: --contexts 8,2048 clamped to 8,506"),
    r.stderr,
  );
});
