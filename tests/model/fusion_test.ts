/**
 * The fused decode launches (norm in the product, RoPE and the cache write in the qkv product's
 * store, SiLU·mul in gate|up's) against a CPU forward written from the HF maths, on random models
 * whose shapes take each path: head_dim a multiple of 8 (RoPE fused) or not (RoPE in its own
 * launch), intermediate sizes that are or are not a multiple of 4 (gate|up padded).
 */
import { Llama } from "../../src/model/llama.ts";
import { openCheckpoint } from "../../src/model/checkpoint.ts";
import { parseLlamaConfig } from "../../src/model/config.ts";
import { expectedTensors } from "../../src/model/tensors.ts";
import { assertEquals, assertRelClose } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";
import { randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";
import { encodeSafetensors, f32Bytes, tempFolder } from "../_safetensors.ts";

interface Shape {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
}

const [VOCAB, LAYERS, EPS, THETA] = [40, 2, 1e-5, 10000];

/** A random f32 model folder of `shape`, and its weights by name. */
function randomModel(s: Shape, seed: number) {
  const rng = seeded(seed);
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_act: "silu",
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: LAYERS,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    head_dim: s.headDim,
    vocab_size: VOCAB,
    rms_norm_eps: EPS,
    rope_theta: THETA,
    max_position_embeddings: 64,
    tie_word_embeddings: false,
    torch_dtype: "float32",
  };
  const expected = expectedTensors(parseLlamaConfig(config));
  const weights = new Map(expected.map(({ name, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // Norm weights near 1, matrices scaled so activations stay O(1).
    const values = shape.length === 1
      ? randomArray(rng, n, 0.5).map((v) => 1 + v)
      : randomArray(rng, n, 1 / Math.sqrt(shape[1]!));
    return [name, values];
  }));
  const tensors = Object.fromEntries(
    expected.map(({ name, shape }) => [name, {
      dtype: "F32",
      shape: [...shape],
      data: f32Bytes(weights.get(name)!),
    }]),
  );
  const dir = tempFolder({
    "config.json": config,
    "model.safetensors": encodeSafetensors(tensors),
  });
  return { dir, weights };
}

/** Logits [T, V] of `ids` from position 0, in float64 from the HF maths. */
function cpuForward(s: Shape, w: Map<string, Float32Array>, ids: number[]): Float64Array {
  const T = ids.length;
  const get = (name: string) => w.get(name)!;
  const half = s.headDim / 2;
  const invFreq = Array.from({ length: half }, (_, j) => 1 / THETA ** (2 * j / s.headDim));
  let x = ref.embedding(get("model.embed_tokens.weight"), ids, s.hidden);
  const [qDim, kvDim] = [s.heads * s.headDim, s.kvHeads * s.headDim];
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}.`;
    const xn = ref.rmsnorm(x, get(`${p}input_layernorm.weight`), T, s.hidden, EPS);
    const proj = (name: string, rows: number, input: ArrayLike<number>, cols = s.hidden) =>
      ref.linear(input, get(`${p}${name}.weight`), T, rows, cols);
    const q = ref.rope(proj("self_attn.q_proj", qDim, xn), T, s.heads, s.headDim, 0, invFreq);
    const k = ref.rope(proj("self_attn.k_proj", kvDim, xn), T, s.kvHeads, s.headDim, 0, invFreq);
    const v = proj("self_attn.v_proj", kvDim, xn);
    const att = ref.attention(q, k, v, {
      tokens: T,
      start: 0,
      heads: s.heads,
      kvHeads: s.kvHeads,
      hd: s.headDim,
      scale: 1 / Math.sqrt(s.headDim),
    });
    const o = proj("self_attn.o_proj", s.hidden, att, qDim);
    x = x.map((v, i) => v + o[i]!);
    const xn2 = ref.rmsnorm(x, get(`${p}post_attention_layernorm.weight`), T, s.hidden, EPS);
    const h = ref.siluMul(
      proj("mlp.gate_proj", s.intermediate, xn2),
      proj("mlp.up_proj", s.intermediate, xn2),
    );
    const down = proj("mlp.down_proj", s.hidden, h, s.intermediate);
    x = x.map((v, i) => v + down[i]!);
  }
  const xn = ref.rmsnorm(x, get("model.norm.weight"), T, s.hidden, EPS);
  return ref.linear(xn, get("lm_head.weight"), T, VOCAB, s.hidden);
}

const SHAPES: [string, Shape][] = [
  ["head_dim 8 (RoPE fused), F 20", {
    hidden: 16,
    heads: 2,
    kvHeads: 1,
    headDim: 8,
    intermediate: 20,
  }],
  ["head_dim 16 (RoPE fused), F 37", {
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    intermediate: 37,
  }],
  ["head_dim 12 (RoPE in its own launch), F 30", {
    hidden: 24,
    heads: 2,
    kvHeads: 1,
    headDim: 12,
    intermediate: 30,
  }],
];

for (const [name, shape] of SHAPES) {
  Deno.test(`fused decode step, ${name}: prefill and decode logits equal the CPU forward (1e-4)`, async () => {
    const { gpu } = await testGpu();
    const { dir, weights } = randomModel(shape, 41);
    const model = await Llama.load(openCheckpoint(dir), gpu, { contextLength: 64 });
    try {
      const ids = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % VOCAB);
      const expected = cpuForward(shape, weights, ids);
      // A prompt of 36 (matmul_lanes on software adapters), one of 5 (matmul), then steps (matvec).
      const got = new Float32Array(ids.length * VOCAB);
      got.set(await model.logits(ids.slice(0, 36), 0), 0);
      model.truncate(30);
      got.set(await model.logits(ids.slice(30, 35), 30), 30 * VOCAB);
      for (let t = 35; t < ids.length; t++) got.set(await model.logits([ids[t]!], t), t * VOCAB);
      assertRelClose(got, expected, 1e-4, name);
      // A decode step at a short context: 5 dispatches per layer (6 with RoPE in its own launch),
      // then embedding, lm_head and greedy sampling's one (the vocabulary is one slice).
      assertEquals(model.launchesPerStep(1, 0), LAYERS * (shape.headDim % 8 ? 6 : 5) + 3);
    } finally {
      model.dispose();
      Deno.removeSync(dir, { recursive: true });
    }
  });
}
