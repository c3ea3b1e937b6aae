/**
 * Writing a LoRA adapter as PEFT saves one — `adapter_config.json` and
 * `adapter_model.safetensors` (F32, PEFT's tensor names) — so `PeftModel.from_pretrained` and
 * vLLM load it unchanged, and wgllama's `--adapter`; with the optimizer and trainer state beside
 * it, `--resume` continues exactly. Written as one unit, as model checkpoints are.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeSafetensors } from "../io/safetensors_writer.ts";
import type { LoraSpec } from "./lora.ts";
import { encodeAs, FileSet, writeError, writeTrainingState } from "./save.ts";

/** The adapter files of a LoRA run. */
export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

/** adapter_config.json as PEFT writes it for a LoRA of `spec` on `base`. */
export function adapterConfig(spec: LoraSpec, base: string): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: base,
    r: spec.rank,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout ?? 0,
    use_rslora: spec.rslora,
    target_modules: spec.targets,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_dora: false,
  };
}

/**
 * Writes the adapter (and, for a resumable checkpoint, the optimizer and trainer state) to
 * `dir`; adapters are saved as F32, never rounded. Values that are not finite are refused.
 */
export function saveAdapterCheckpoint(
  dir: string,
  adapter: {
    spec: LoraSpec;
    base: string;
    tensors: ReadonlyMap<string, { shape: number[]; data: Float32Array }>;
  },
  training?: {
    optimizer: ReadonlyMap<string, { shape: number[]; data: Float32Array }>;
    state: Record<string, unknown>;
  },
): void {
  for (const [name, t] of adapter.tensors) {
    const at = t.data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) {
      throw new InputError(`Not saving ${dir}: ${name}[${at}] is ${t.data[at]}: not finite`);
    }
  }
  const files = new FileSet(dir);
  try {
    Deno.mkdirSync(dir, { recursive: true });
    files.json(ADAPTER_CONFIG, adapterConfig(adapter.spec, adapter.base));
    const entries = [...adapter.tensors].map(([name, t]) => ({
      name,
      dtype: "F32",
      shape: t.shape,
    }));
    files.write(ADAPTER_WEIGHTS, (path) =>
      writeSafetensors(
        path,
        entries,
        (e, write) => write(encodeAs(adapter.tensors.get(e.name)!.data, "f32")),
        { format: "pt" },
      ));
    if (training) writeTrainingState(files, training);
    files.commit();
  } catch (e) {
    files.abort();
    throw writeError(e, files.current ?? dir);
  }
}
