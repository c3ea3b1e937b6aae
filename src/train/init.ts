/**
 * A new model with Hugging Face's initialisation for `LlamaForCausalLM` (`_init_weights`): every
 * linear and embedding weight drawn from normal(0, initializer_range), the embedding's
 * `pad_token_id` row zero, norms at 1; seeded, and
 * written tensor by tensor so a large model never sits whole in memory.
 * @module
 */
import type { LlamaConfig } from "../model/config.ts";
import { expectedTensors } from "../model/tensors.ts";
import { writeSafetensors } from "../io/safetensors_writer.ts";
import { gaussian } from "./random.ts";
import { WEIGHTS_FILE } from "../io/hf_folder.ts";
import {
  encodeAs,
  FileSet,
  HF_METADATA,
  modelConfig,
  SAVE_DTYPES,
  type SaveDtype,
  TOKENIZER_FILES,
  writeError,
} from "./save.ts";

/** Values generated per write. */
const CHUNK = 1 << 20;

/**
 * Writes a new model folder `dir`: `json` (config.json, parsed as `c`) with torch_dtype set,
 * a generation_config.json with its bos and eos ids, the tokenizer files of `tokenizerFrom` when
 * given, and freshly initialised weights.
 */
export function writeNewModel(
  dir: string,
  json: Record<string, unknown>,
  c: LlamaConfig,
  o: {
    seed: number;
    dtype: SaveDtype;
    initializerRange: number;
    padTokenId?: number;
    tokenizerFrom?: string;
  },
): void {
  const files = new FileSet(dir);
  try {
    Deno.mkdirSync(dir, { recursive: true });
    if (o.tokenizerFrom) files.copyFrom(o.tokenizerFrom, TOKENIZER_FILES);
    files.json("config.json", modelConfig(json, o.dtype));
    const generation: Record<string, unknown> = { _from_model_config: true };
    if (json.bos_token_id !== undefined) generation.bos_token_id = json.bos_token_id;
    if (json.eos_token_id !== undefined) generation.eos_token_id = json.eos_token_id;
    files.json("generation_config.json", generation);
    files.write(WEIGHTS_FILE, (path) => writeInitialWeights(path, c, o));
    files.commit();
  } catch (e) {
    files.abort();
    throw writeError(e, files.current ?? dir);
  }
}

/** Writes `path` (model.safetensors) with freshly initialised weights of `c`. */
export function writeInitialWeights(
  path: string,
  c: LlamaConfig,
  o: { seed: number; dtype: SaveDtype; initializerRange: number; padTokenId?: number },
): void {
  const tensors = expectedTensors(c).map((t) => ({
    name: t.name,
    dtype: SAVE_DTYPES[o.dtype],
    shape: [...t.shape],
  }));
  const normal = gaussian(o.seed);
  writeSafetensors(path, tensors, (t, write) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const norm = t.shape.length === 1;
    // The embedding's padding row is drawn, then zeroed (nn.Embedding's padding_idx, as HF does).
    const [padFrom, padTo] = t.name === "model.embed_tokens.weight" && o.padTokenId !== undefined
      ? [o.padTokenId * t.shape[1]!, (o.padTokenId + 1) * t.shape[1]!]
      : [0, 0];
    for (let at = 0; at < n; at += CHUNK) {
      const values = new Float32Array(Math.min(CHUNK, n - at));
      for (let i = 0; i < values.length; i++) {
        values[i] = norm ? 1 : normal() * o.initializerRange;
        if (at + i >= padFrom && at + i < padTo) values[i] = 0;
      }
      write(encodeAs(values, o.dtype));
    }
  }, HF_METADATA);
}
