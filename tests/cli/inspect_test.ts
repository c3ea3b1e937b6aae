import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";
import { LLAMA32_1B, LLAMA3_8B } from "../_configs.ts";
import { encodeSafetensors, f32Bytes, tempFolder } from "../_safetensors.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

/** Asserts a one-line `wgllama: error:` message containing `parts`, exit 1, nothing on stdout. */
function assertInputError(r: { code: number; stdout: string; stderr: string }, ...parts: string[]) {
  assertEquals(r.code, 1, `exit code (stderr: ${r.stderr})`);
  assertEquals(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, `one line: ${r.stderr}`);
  assert(lines[0]!.startsWith("wgllama: error: "), r.stderr);
  for (const p of parts) assert(lines[0]!.includes(p), `"${lines[0]}" lacks "${p}"`);
}

Deno.test("wgllama inspect --json counts an 8B config exactly from config.json alone", async () => {
  const dir = tempFolder({ "config.json": LLAMA3_8B });
  const r = await wgllama(["inspect", dir, "--json"]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.parameters.total, 8_030_261_248);
  assertEquals(j.parameters.by_component.lm_head, 525_336_576);
  assertEquals(j.memory.context_length, 8192);
  assertEquals(j.memory.kv_cache_bytes, 2 * 32 * 8192 * 1024 * 4);
  assertEquals(j.memory.weights_bytes, 8_030_261_248 * 2);
  assertEquals(j.config.numKeyValueHeads, 8);
});

Deno.test("wgllama inspect prints tables for a sharded fixture and honours --ctx", async () => {
  const r = await wgllama(["inspect", `${FIXTURES}tiny-sharded`, "--ctx", "100"]);
  assertEquals(r.code, 0, r.stderr);
  for (
    const s of ["Hyperparameters", "158,016", "(batch, seq, 512)", "KV cache (100 tokens, f32)"]
  ) {
    assert(r.stdout.includes(s), `missing ${s}`);
  }
  const tied = await wgllama(["inspect", tempFolder({ "config.json": LLAMA32_1B }), "--json"]);
  assertEquals(JSON.parse(tied.stdout).parameters.by_component.lm_head, "tied");
});

Deno.test("wgllama inspect validates weights: missing and mis-shaped tensors, extras warned", async () => {
  const config = JSON.parse(Deno.readTextFileSync(`${FIXTURES}tiny-f32/config.json`));
  const tiny = {
    ...config,
    num_hidden_layers: 1,
    vocab_size: 4,
    hidden_size: 2,
    intermediate_size: 3,
    num_attention_heads: 1,
    num_key_value_heads: 1,
    head_dim: 2,
  };
  const t = (shape: number[]) => ({
    dtype: "F32",
    shape,
    data: f32Bytes(new Array(shape.reduce((a, b) => a * b, 1)).fill(0)),
  });
  const tensors: Record<string, ReturnType<typeof t>> = {
    "model.embed_tokens.weight": t([4, 2]),
    "model.layers.0.input_layernorm.weight": t([2]),
    "model.layers.0.self_attn.q_proj.weight": t([2, 2]),
    "model.layers.0.self_attn.k_proj.weight": t([2, 2]),
    "model.layers.0.self_attn.v_proj.weight": t([2, 2]),
    "model.layers.0.self_attn.o_proj.weight": t([2, 2]),
    "model.layers.0.post_attention_layernorm.weight": t([2]),
    "model.layers.0.mlp.gate_proj.weight": t([3, 2]),
    "model.layers.0.mlp.up_proj.weight": t([3, 2]),
    "model.layers.0.mlp.down_proj.weight": t([2, 3]),
    "model.norm.weight": t([2]),
    "lm_head.weight": t([4, 2]),
  };
  const good = await wgllama([
    "inspect",
    tempFolder({
      "config.json": tiny,
      "model.safetensors": encodeSafetensors({ ...tensors, "rotary.inv_freq": t([1]) }),
    }),
  ]);
  assertEquals(good.code, 0, good.stderr);
  assert(good.stderr.includes("warning") && good.stderr.includes("rotary.inv_freq"), good.stderr);

  const { "model.layers.0.mlp.up_proj.weight": _, ...missing } = tensors;
  assertInputError(
    await wgllama([
      "inspect",
      tempFolder({ "config.json": tiny, "model.safetensors": encodeSafetensors(missing) }),
    ]),
    `Missing tensor "model.layers.0.mlp.up_proj.weight"`,
    "[3,2]",
  );
  const wrong = { ...tensors, "model.layers.0.self_attn.k_proj.weight": t([1, 2]) };
  assertInputError(
    await wgllama([
      "inspect",
      tempFolder({ "config.json": tiny, "model.safetensors": encodeSafetensors(wrong) }),
    ]),
    `"model.layers.0.self_attn.k_proj.weight"`,
    "shape [1,2]",
    "expected [2,2]",
  );
});

Deno.test("wgllama refuses bad folders and flags with one line and the right exit code", async () => {
  assertInputError(await wgllama(["inspect", tempFolder({})]), "config.json", "file not found");
  assertInputError(
    await wgllama(["inspect", tempFolder({ "config.json": "{" })]),
    "config.json",
    "not valid JSON",
  );
  assertInputError(
    await wgllama([
      "inspect",
      tempFolder({ "config.json": { ...LLAMA3_8B, num_attention_heads: "32" } }),
    ]),
    `"num_attention_heads"`,
  );
  assertInputError(
    await wgllama([
      "inspect",
      tempFolder({ "config.json": LLAMA3_8B, "model.safetensors": new Uint8Array(3) }),
    ]),
    "model.safetensors",
    "3 bytes",
  );
  assertInputError(await wgllama(["inspect", "no/such-model"]), "no/such-model");
  const usage = await wgllama(["inspect", `${FIXTURES}tiny-f32`, "--ctx", "abc"]);
  assertEquals([usage.code, usage.stdout], [2, ""]);
  assert(usage.stderr.includes("--ctx") && !usage.stderr.includes("    at "), usage.stderr);
  assertEquals((await wgllama(["inspect", "--bogus"])).code, 2);
  assertEquals((await wgllama(["frobnicate"])).code, 2);
  const help = await wgllama(["inspect", "--help"]);
  assert(help.code === 0 && help.stdout.startsWith("Usage: wgllama inspect"), help.stdout);
});

Deno.test("wgllama inspect --weights q8|q4 gives the GPU memory of an 8B model quantized at load", async () => {
  const dir = tempFolder({ "config.json": LLAMA3_8B });
  const bytes = async (w: string) =>
    JSON.parse((await wgllama(["inspect", dir, "--json", "--weights", w])).stdout).memory;
  const q8 = await bytes("q8");
  const q4 = await bytes("q4");
  // Every 32 weights: q8 = 32 int8 + f16 scale; q4 = 16 bytes + f16 scale and min. Under q8 the
  // embedding stays bf16; under q4 it and lm_head take q8. Norms: 65 f32 vectors.
  const [embedding, norms] = [128256 * 4096, 65 * 4096];
  const layers = 8_030_261_248 - 2 * embedding - norms;
  assertEquals(q8.weights_bytes, (layers + embedding) / 32 * 34 + embedding * 2 + norms * 4);
  assertEquals(q4.weights_bytes, layers / 32 * 20 + 2 * embedding / 32 * 34 + norms * 4);
  assertEquals(q8.weights_by_dtype.BF16, embedding * 2);
  // The targets: q8 ≤ 9 GiB (8.41 GiB = 9.025e9 bytes), q4 ≤ 5.5 GB (5.48e9 bytes).
  assert(
    q8.weights_bytes <= 9 * 2 ** 30 && q4.weights_bytes <= 5.5e9,
    `${q8.weights_bytes} ${q4.weights_bytes}`,
  );
  assertEquals(q4.weights_source, "q4");
  // q5: per 64 weights 32 bytes of low nibbles, 8 of high bits, f16 scale and min: 0.6875
  // bytes/weight, 10% over q4's 0.625; the vocabulary matrices as under q4.
  const q5 = await bytes("q5");
  assertEquals(q5.weights_bytes, layers / 64 * 44 + 2 * embedding / 32 * 34 + norms * 4);
  // Llama 3.2 1B ties lm_head to the embedding: under q8 the bf16 embedding gets a q8 copy as
  // lm_head; under q4 one q8 matrix serves both.
  const tied = tempFolder({ "config.json": LLAMA32_1B });
  const tiedBytes = async (w: string) =>
    JSON.parse((await wgllama(["inspect", tied, "--json", "--weights", w])).stdout).memory
      .weights_by_dtype;
  const vocab = 128256 * 2048;
  assertEquals((await tiedBytes("q8")).BF16, vocab * 2);
  assertEquals((await tiedBytes("q4")).BF16, undefined);
  assertEquals(
    (await tiedBytes("q8")).Q8 - (await tiedBytes("q4")).Q8,
    (1_235_814_400 - vocab - 33 * 2048) / 32 * 34,
  );
  // bf16: every matrix at 2 bytes (a bf16 checkpoint: the same bytes as stored, norms as f32).
  const bf16 = await bytes("bf16");
  assertEquals(bf16.weights_by_dtype.BF16, (8_030_261_248 - norms) * 2);
  assertEquals(bf16.weights_source, "bf16");
  // An f32 checkpoint under q8: its embedding is rounded to bf16 (kept at 16 bits), not kept at f32.
  const f32 = JSON.parse(
    (await wgllama(["inspect", fixture("tiny-f32"), "--json", "--weights", "q8"])).stdout,
  ).memory.weights_by_dtype;
  assertEquals([f32.BF16, f32.F32], [512 * 64 * 2, undefined]);
  assertEquals((await wgllama(["inspect", dir, "--weights", "q3"])).code, 2);
});
