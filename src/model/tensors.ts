/**
 * The tensors a `LlamaForCausalLM` checkpoint must hold (Hugging Face names and shapes), the
 * parameter counts derived from them, and the check of a weight store against them.
 * @module
 */
import { InputError } from "../errors.ts";
import type { TensorInfo } from "../io/safetensors.ts";
import type { LlamaConfig } from "./config.ts";

/** What a tensor belongs to, for counting parameters by component. */
export type Component =
  | "embed_tokens"
  | "q_proj"
  | "k_proj"
  | "v_proj"
  | "o_proj"
  | "gate_proj"
  | "up_proj"
  | "down_proj"
  | "input_layernorm"
  | "post_attention_layernorm"
  | "norm"
  | "lm_head";

/** One expected tensor. `layer` is null outside the decoder layers. */
export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly component: Component;
  readonly layer: number | null;
}

/** Every tensor the checkpoint must contain, in forward order. */
export function expectedTensors(c: LlamaConfig): ExpectedTensor[] {
  const { hiddenSize: D, intermediateSize: F, vocabSize: V } = c;
  const out: ExpectedTensor[] = [{
    name: "model.embed_tokens.weight",
    shape: [V, D],
    component: "embed_tokens",
    layer: null,
  }];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    const add = (name: string, shape: number[], component: Component, bias: boolean) => {
      out.push({ name: `${p}${name}.weight`, shape, component, layer: l });
      if (bias) out.push({ name: `${p}${name}.bias`, shape: [shape[0]!], component, layer: l });
    };
    add("input_layernorm", [D], "input_layernorm", false);
    add("self_attn.q_proj", [c.qDim, D], "q_proj", c.attentionBias);
    add("self_attn.k_proj", [c.kvDim, D], "k_proj", c.attentionBias);
    add("self_attn.v_proj", [c.kvDim, D], "v_proj", c.attentionBias);
    add("self_attn.o_proj", [D, c.qDim], "o_proj", c.attentionBias);
    add("post_attention_layernorm", [D], "post_attention_layernorm", false);
    add("mlp.gate_proj", [F, D], "gate_proj", c.mlpBias);
    add("mlp.up_proj", [F, D], "up_proj", c.mlpBias);
    add("mlp.down_proj", [D, F], "down_proj", c.mlpBias);
  }
  out.push({ name: "model.norm.weight", shape: [D], component: "norm", layer: null });
  if (!c.tieWordEmbeddings) {
    out.push({ name: "lm_head.weight", shape: [V, D], component: "lm_head", layer: null });
  }
  return out;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Parameter counts: total, by component (summed over layers), and of one decoder layer. */
export interface ParameterCounts {
  readonly total: number;
  readonly byComponent: Readonly<Record<Component, number | "tied">>;
  readonly perLayer: Readonly<Partial<Record<Component, number>>> & { readonly total: number };
}

/** Counts parameters from the config alone (the tied lm_head counts once, as the embedding). */
export function countParameters(c: LlamaConfig): ParameterCounts {
  const byComponent = {} as Record<Component, number | "tied">;
  const perLayer: Record<string, number> = { total: 0 };
  let total = 0;
  for (const t of expectedTensors(c)) {
    const n = numel(t.shape);
    total += n;
    byComponent[t.component] = ((byComponent[t.component] as number | undefined) ?? 0) + n;
    if (t.layer === 0) {
      perLayer[t.component] = (perLayer[t.component] ?? 0) + n;
      perLayer.total! += n;
    }
  }
  if (c.tieWordEmbeddings) byComponent.lm_head = "tied";
  return { total, byComponent, perLayer: perLayer as ParameterCounts["perLayer"] };
}

/**
 * Checks that every expected tensor exists with its shape. Throws on the first missing or
 * mis-shaped tensor; returns the names of unexpected extra tensors (a warning, not an error).
 */
export function checkTensors(c: LlamaConfig, tensors: ReadonlyMap<string, TensorInfo>): string[] {
  const expected = expectedTensors(c);
  for (const e of expected) {
    const t = tensors.get(e.name);
    if (!t) {
      throw new InputError(
        `Missing tensor "${e.name}": expected shape [${e.shape}] from config.json`,
      );
    }
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new InputError(
        `Tensor "${e.name}" in ${t.file.path} has shape [${t.shape}]: expected [${e.shape}] from config.json`,
      );
    }
  }
  const names = new Set(expected.map((e) => e.name));
  return [...tensors.keys()].filter((n) => !names.has(n));
}
