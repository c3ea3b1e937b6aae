/**
 * A PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`), applied at load: each
 * targeted matrix becomes W + s·B·A, s = lora_alpha / r (lora_alpha / √r with `use_rslora`), as
 * PEFT's forward computes it. Merged before upload, so the model then runs at the base's speed in
 * any `--weights` format. Anything in the config that would change that math is refused by name.
 * @module
 */
import { InputError } from "../errors.ts";
import { type TensorInfo, TensorStore, toF32 } from "../io/safetensors.ts";
import type { LlamaConfig } from "./config.ts";

/** The projections LoRA may target, and where each lives in a decoder layer. */
const MODULES: Record<string, string> = {
  q_proj: "self_attn",
  k_proj: "self_attn",
  v_proj: "self_attn",
  o_proj: "self_attn",
  gate_proj: "mlp",
  up_proj: "mlp",
  down_proj: "mlp",
};

/** A loaded adapter: the delta of each targeted weight, by its Hugging Face name. */
export interface Adapter {
  readonly dir: string;
  readonly rank: number;
  /** s in W + s·B·A. */
  readonly scale: number;
  readonly targets: readonly string[];
  /** A [r, in] and B [out, r] of `name` (`model.layers.N.self_attn.q_proj.weight`), if targeted. */
  delta(name: string): { a: Float32Array; b: Float32Array } | undefined;
}

type Json = Record<string, unknown>;

/** Opens and checks the adapter in `dir` against the base model's `config`. */
export function openAdapter(dir: string, config: LlamaConfig): Adapter {
  const configPath = `${dir}/adapter_config.json`;
  let json: Json;
  try {
    json = JSON.parse(Deno.readTextFileSync(configPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(
        `Cannot load the adapter ${dir}: no adapter_config.json (expected a PEFT LoRA adapter folder)`,
      );
    }
    throw new InputError(`Cannot read ${configPath}: ${e instanceof Error ? e.message : e}`);
  }
  const bad = (field: string, expected: string) =>
    new InputError(
      `${configPath}: ${field} is ${JSON.stringify(json[field])}: expected ${expected}`,
    );
  if (json.peft_type !== "LORA") throw bad("peft_type", '"LORA"');
  const r = json.r;
  if (!Number.isInteger(r) || (r as number) < 1) throw bad("r", "a positive integer");
  const alpha = json.lora_alpha ?? 8;
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) throw bad("lora_alpha", "a number");
  // What would change y = W·x + s·B·A·x, or add tensors this loader does not merge.
  const unsupported: [string, (v: unknown) => boolean, string][] = [
    ["use_dora", (v) => !v, "false (DoRA is not supported)"],
    ["bias", (v) => v === undefined || v === "none", '"none"'],
    ["lora_bias", (v) => !v, "false"],
    ["fan_in_fan_out", (v) => !v, "false"],
    ["modules_to_save", (v) => v == null || (Array.isArray(v) && v.length === 0), "null"],
    ["layers_to_transform", (v) => v == null, "null (every layer)"],
    ["rank_pattern", (v) => v == null || Object.keys(v as object).length === 0, "{}"],
    ["alpha_pattern", (v) => v == null || Object.keys(v as object).length === 0, "{}"],
    ["target_parameters", (v) => v == null, "null"],
    ["trainable_token_indices", (v) => v == null, "null"],
    ["layer_replication", (v) => v == null, "null"],
  ];
  for (const [field, ok, expected] of unsupported) if (!ok(json[field])) throw bad(field, expected);
  const allLinear = json.target_modules === "all-linear";
  const targets = allLinear ? Object.keys(MODULES) : json.target_modules;
  if (
    !Array.isArray(targets) || targets.length === 0 ||
    !targets.every((t) => typeof t === "string" && t in MODULES)
  ) {
    throw bad("target_modules", `a list of ${Object.keys(MODULES).join(", ")}, or "all-linear"`);
  }
  const rank = r as number;
  const scale = json.use_rslora ? alpha / Math.sqrt(rank) : alpha / rank;
  const deltas = readDeltas(dir, config, targets as string[], rank);
  return {
    dir,
    rank,
    scale,
    targets: targets as string[],
    delta: (name) => deltas.get(name),
  };
}

/** Reads every A and B, checking names, shapes and values; no tensor is left unused. */
function readDeltas(
  dir: string,
  c: LlamaConfig,
  targets: string[],
  rank: number,
): Map<string, { a: Float32Array; b: Float32Array }> {
  const path = `${dir}/adapter_model.safetensors`;
  let store: TensorStore;
  try {
    store = TensorStore.openFile(path, { read: true });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
  try {
    const { hiddenSize: D, intermediateSize: F, qDim, kvDim } = c;
    const shapes: Record<string, [number, number]> = {
      q_proj: [qDim, D],
      k_proj: [kvDim, D],
      v_proj: [kvDim, D],
      o_proj: [D, qDim],
      gate_proj: [F, D],
      up_proj: [F, D],
      down_proj: [D, F],
    };
    const used = new Set<string>();
    const read = (name: string, shape: [number, number]): Float32Array => {
      const t: TensorInfo | undefined = store.tensors.get(name);
      if (!t) throw new InputError(`${path}: no tensor ${name} (the config targets it)`);
      if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
        throw new InputError(
          `${path}: ${name} has shape [${t.shape}]: expected [${shape}] (r ${rank} on this model)`,
        );
      }
      used.add(name);
      return toF32(store.finiteBytes(t), t.dtype);
    };
    const deltas = new Map<string, { a: Float32Array; b: Float32Array }>();
    for (let l = 0; l < c.numHiddenLayers; l++) {
      for (const t of targets) {
        const [out, inp] = shapes[t]!;
        const module = `model.layers.${l}.${MODULES[t]}.${t}`;
        deltas.set(`${module}.weight`, {
          a: read(`base_model.model.${module}.lora_A.weight`, [rank, inp]),
          b: read(`base_model.model.${module}.lora_B.weight`, [out, rank]),
        });
      }
    }
    const extra = [...store.tensors.keys()].find((n) => !used.has(n));
    if (extra !== undefined) {
      throw new InputError(
        `${path}: tensor ${extra} is not a LoRA A or B of the targeted projections: expected only those`,
      );
    }
    return deltas;
  } finally {
    store.close();
  }
}

/** w [rows, cols] += scale · b [rows, r] · a [r, cols], in place (f32, as PEFT's f32 forward). */
export function mergeDelta(
  w: Float32Array,
  rows: number,
  cols: number,
  delta: { a: Float32Array; b: Float32Array },
  scale: number,
): void {
  const rank = delta.a.length / cols;
  for (let o = 0; o < rows; o++) {
    const row = w.subarray(o * cols, (o + 1) * cols);
    for (let k = 0; k < rank; k++) {
      const bk = scale * delta.b[o * rank + k]!;
      if (bk === 0) continue;
      const ak = delta.a.subarray(k * cols, (k + 1) * cols);
      for (let i = 0; i < cols; i++) row[i]! += bk * ak[i]!;
    }
  }
}
