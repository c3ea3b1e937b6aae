/**
 * `config.json` and `generation_config.json` → frozen, validated objects. Field names are the
 * camelCase of the Hugging Face keys; every error names the file, the field, the value found and
 * what was expected.
 * @module
 */
import { InputError } from "../errors.ts";

/** `rope_scaling` with `rope_type: "llama3"` (Llama 3.1/3.2 long-context frequency scaling). */
export interface Llama3RopeScaling {
  readonly ropeType: "llama3";
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/** The hyperparameters of a `LlamaForCausalLM`, plus derived sizes computed once. */
export interface LlamaConfig {
  /** hidden_size (D) */
  readonly hiddenSize: number;
  /** intermediate_size (F) */
  readonly intermediateSize: number;
  /** num_hidden_layers (L) */
  readonly numHiddenLayers: number;
  /** num_attention_heads (H) */
  readonly numAttentionHeads: number;
  /** num_key_value_heads (Hkv), default H */
  readonly numKeyValueHeads: number;
  /** head_dim (Hd), default D / H */
  readonly headDim: number;
  /** vocab_size (V) */
  readonly vocabSize: number;
  /** rms_norm_eps */
  readonly rmsNormEps: number;
  /** rope_theta, default 10000 */
  readonly ropeTheta: number;
  /** rope_scaling: null, or llama3 scaling */
  readonly ropeScaling: Llama3RopeScaling | null;
  /** max_position_embeddings */
  readonly maxPositionEmbeddings: number;
  /** tie_word_embeddings, default false */
  readonly tieWordEmbeddings: boolean;
  /** attention_bias, default false */
  readonly attentionBias: boolean;
  /** mlp_bias, default false */
  readonly mlpBias: boolean;
  /** torch_dtype (or dtype), e.g. "bfloat16"; null when absent */
  readonly torchDtype: string | null;
  /** bos_token_id; null when absent */
  readonly bosTokenId: number | null;
  /** eos_token_id as a list (a single number becomes a one-element list) */
  readonly eosTokenIds: readonly number[];
  /** Derived: Hkv * Hd, the width of k and v. */
  readonly kvDim: number;
  /** Derived: H * Hd, the width of q and the attention output. */
  readonly qDim: number;
  /** Derived: H / Hkv, query heads per kv head. */
  readonly groupSize: number;
}

/** Defaults for generation from `generation_config.json`; absent keys stay undefined. */
export interface GenerationDefaults {
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId?: number;
  readonly doSample?: boolean;
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly maxNewTokens?: number;
}

type Json = Record<string, unknown>;

class Fields {
  constructor(readonly json: Json, readonly path: string) {}

  fail(key: string, expected: string): never {
    throw new InputError(
      `${this.path}: field "${key}" is ${JSON.stringify(this.json[key])}: expected ${expected}`,
    );
  }
  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }
  int(key: string, { min = 1, fallback }: { min?: number; fallback?: number } = {}): number {
    if (!this.has(key)) {
      if (fallback !== undefined) return fallback;
      throw new InputError(`${this.path}: field "${key}" is missing: expected an integer ≥ ${min}`);
    }
    const v = this.json[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.fail(key, `an integer ≥ ${min}`);
    }
    return v;
  }
  positive(key: string, fallback?: number): number {
    if (!this.has(key)) {
      if (fallback !== undefined) return fallback;
      throw new InputError(`${this.path}: field "${key}" is missing: expected a positive number`);
    }
    const v = this.json[key];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      this.fail(key, "a positive number");
    }
    return v;
  }
  bool(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const v = this.json[key];
    if (typeof v !== "boolean") this.fail(key, "true or false");
    return v;
  }
  tokenIds(key: string): number[] {
    if (!this.has(key)) return [];
    const v = this.json[key];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((id) => Number.isSafeInteger(id) && id >= 0)) {
      this.fail(key, "a token id or a list of token ids");
    }
    return list as number[];
  }
}

function asObject(json: unknown, path: string): Json {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InputError(`${path}: expected a JSON object`);
  }
  return json as Json;
}

/** Validates `config.json` (already parsed) into a frozen {@linkcode LlamaConfig}. */
export function parseLlamaConfig(json: unknown, path = "config.json"): LlamaConfig {
  const f = new Fields(asObject(json, path), path);
  const { model_type: modelType, architectures } = f.json;
  if (modelType !== undefined && modelType !== "llama") {
    f.fail("model_type", `"llama" (only Llama-architecture models are supported)`);
  }
  if (architectures !== undefined) {
    if (!Array.isArray(architectures) || !architectures.includes("LlamaForCausalLM")) {
      f.fail("architectures", `a list containing "LlamaForCausalLM"`);
    }
  } else if (modelType === undefined) {
    throw new InputError(
      `${path}: fields "model_type" and "architectures" are missing: expected "llama"`,
    );
  }
  const hiddenSize = f.int("hidden_size");
  const numAttentionHeads = f.int("num_attention_heads");
  const numKeyValueHeads = f.int("num_key_value_heads", { fallback: numAttentionHeads });
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    f.fail("num_key_value_heads", `a divisor of num_attention_heads (${numAttentionHeads})`);
  }
  if (!f.has("head_dim") && hiddenSize % numAttentionHeads !== 0) {
    f.fail(
      "num_attention_heads",
      `a divisor of hidden_size (${hiddenSize}) when head_dim is absent`,
    );
  }
  const headDim = f.int("head_dim", { fallback: hiddenSize / numAttentionHeads });
  if (headDim % 2 !== 0) f.fail("head_dim", "an even number (RoPE rotates pairs)");
  const act = f.json.hidden_act ?? "silu";
  if (act !== "silu") f.fail("hidden_act", `"silu"`);
  const torchDtype = f.json.torch_dtype ?? f.json.dtype ?? null;
  if (torchDtype !== null && typeof torchDtype !== "string") f.fail("torch_dtype", "a string");
  const bos = f.tokenIds("bos_token_id");
  return Object.freeze({
    hiddenSize,
    intermediateSize: f.int("intermediate_size"),
    numHiddenLayers: f.int("num_hidden_layers"),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    vocabSize: f.int("vocab_size"),
    rmsNormEps: f.positive("rms_norm_eps", 1e-6),
    ropeTheta: f.positive("rope_theta", 10000),
    ropeScaling: parseRopeScaling(f),
    maxPositionEmbeddings: f.int("max_position_embeddings", { fallback: 2048 }),
    tieWordEmbeddings: f.bool("tie_word_embeddings", false),
    attentionBias: f.bool("attention_bias", false),
    mlpBias: f.bool("mlp_bias", false),
    torchDtype: torchDtype as string | null,
    bosTokenId: bos[0] ?? null,
    eosTokenIds: Object.freeze(f.tokenIds("eos_token_id")),
    kvDim: numKeyValueHeads * headDim,
    qDim: numAttentionHeads * headDim,
    groupSize: numAttentionHeads / numKeyValueHeads,
  });
}

function parseRopeScaling(f: Fields): Llama3RopeScaling | null {
  if (!f.has("rope_scaling")) return null;
  const raw = f.json.rope_scaling;
  if (typeof raw !== "object" || Array.isArray(raw)) f.fail("rope_scaling", "null or an object");
  const s = new Fields(raw as Json, `${f.path} rope_scaling`);
  const type = s.json.rope_type ?? s.json.type;
  if (type === "default") return null;
  if (type !== "llama3") {
    throw new InputError(
      `${f.path}: field "rope_scaling.rope_type" is ${
        JSON.stringify(type)
      }: expected "llama3" or "default" (other RoPE scalings are not supported yet)`,
    );
  }
  const lowFreqFactor = s.positive("low_freq_factor");
  const highFreqFactor = s.positive("high_freq_factor");
  if (highFreqFactor <= lowFreqFactor) {
    s.fail("high_freq_factor", `a number above low_freq_factor (${lowFreqFactor})`);
  }
  return Object.freeze({
    ropeType: "llama3",
    factor: s.positive("factor"),
    lowFreqFactor,
    highFreqFactor,
    originalMaxPositionEmbeddings: s.int("original_max_position_embeddings"),
  });
}

/** Validates `generation_config.json` (already parsed; `undefined` when the file is absent). */
export function parseGenerationConfig(
  json: unknown,
  path = "generation_config.json",
): GenerationDefaults {
  if (json === undefined) return Object.freeze({ eosTokenIds: [] });
  const f = new Fields(asObject(json, path), path);
  const out: Record<string, unknown> = { eosTokenIds: Object.freeze(f.tokenIds("eos_token_id")) };
  const bos = f.tokenIds("bos_token_id");
  if (bos.length) out.bosTokenId = bos[0];
  if (f.has("do_sample")) out.doSample = f.bool("do_sample", false);
  if (f.has("temperature")) {
    const t = f.json.temperature;
    if (typeof t !== "number" || !(t >= 0)) f.fail("temperature", "a number ≥ 0");
    out.temperature = t;
  }
  if (f.has("top_p")) {
    const p = f.json.top_p;
    if (typeof p !== "number" || !(p > 0 && p <= 1)) f.fail("top_p", "a number in (0, 1]");
    out.topP = p;
  }
  if (f.has("top_k")) out.topK = f.int("top_k", { min: 0 });
  if (f.has("max_new_tokens")) out.maxNewTokens = f.int("max_new_tokens");
  return Object.freeze(out as unknown as GenerationDefaults);
}
