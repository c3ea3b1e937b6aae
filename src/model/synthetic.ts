/**
 * Random Llama-3-shaped bf16 checkpoints written to a folder, for benchmarks: a real
 * config.json and model.safetensors that load through the normal path.
 * @module
 */
import { parseLlamaConfig } from "./config.ts";
import { writeSafetensors } from "../io/safetensors_writer.ts";
import { expectedTensors } from "./tensors.ts";

const LLAMA3 = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_act: "silu",
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  vocab_size: 128256,
  bos_token_id: 128000,
  eos_token_id: 128001,
  max_position_embeddings: 8192,
  torch_dtype: "bfloat16",
};

/** Named shapes: Llama 3 vocabulary and head layout at 160M, 1B (3.2-1B), 3B (3.2-3B), 8B (3-8B). */
export const SHAPES = {
  "160m": {
    hidden_size: 768,
    intermediate_size: 2048,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_key_value_heads: 4,
    tie_word_embeddings: true,
  },
  "1b": {
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    tie_word_embeddings: true,
  },
  "3b": {
    hidden_size: 3072,
    intermediate_size: 8192,
    num_hidden_layers: 28,
    num_attention_heads: 24,
    num_key_value_heads: 8,
    tie_word_embeddings: true,
  },
  "8b": {
    hidden_size: 4096,
    intermediate_size: 14336,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    tie_word_embeddings: false,
  },
} as const;

/** A shape name. */
export type ShapeName = keyof typeof SHAPES;

/** The config.json of a named shape. */
export function syntheticConfig(shape: ShapeName): Record<string, unknown> {
  return { ...LLAMA3, ...SHAPES[shape] };
}

/**
 * Writes `config.json` and a random bf16 `model.safetensors` of `shape` into `dir`. Weights are
 * ±[2⁻⁹, 2⁻⁵) with random mantissas; norms are 1. Streams in 16 MiB blocks.
 */
export function writeSyntheticModel(dir: string, shape: ShapeName, seed = 1): void {
  const json = syntheticConfig(shape);
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(json, null, 2));
  const tensors = expectedTensors(parseLlamaConfig(json)).map((t) => ({ ...t, dtype: "BF16" }));
  let state = seed >>> 0 || 1;
  const block = new Uint16Array(8 << 20);
  writeSafetensors(`${dir}/model.safetensors`, tensors, (t, write) => {
    let left = t.shape.reduce((a, b) => a * b, 1);
    const isNorm = t.shape.length === 1;
    while (left > 0) {
      const n = Math.min(left, block.length);
      for (let i = 0; i < n; i++) {
        if (isNorm) {
          block[i] = 0x3f80; // 1.0
          continue;
        }
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        // sign | exponent 118..121 | 7 mantissa bits
        block[i] = ((state >>> 16) & 0x8000) | ((118 + (state & 3)) << 7) | ((state >>> 2) & 0x7f);
      }
      write(new Uint8Array(block.buffer, 0, n * 2));
      left -= n;
    }
  });
}
