/**
 * A model folder opened for use: validated config, generation defaults and (when present)
 * memory-mapped weights checked against the config. No GPU involved.
 * @module
 */
import { InputError } from "../errors.ts";
import { openWeights, readJson, resolveModelDir } from "../io/hf_folder.ts";
import type { TensorStore } from "../io/safetensors.ts";
import {
  type GenerationDefaults,
  type LlamaConfig,
  parseGenerationConfig,
  parseLlamaConfig,
} from "./config.ts";
import { checkTensors } from "./tensors.ts";

/** A resolved, validated model folder. Call {@linkcode Checkpoint.close} to unmap the weights. */
export interface Checkpoint {
  readonly dir: string;
  readonly config: LlamaConfig;
  readonly generation: GenerationDefaults;
  /** The mapped weights; undefined when the folder has none and they were optional. */
  readonly weights: TensorStore | undefined;
  /** Tensors present in the files but not used by the model. */
  readonly extraTensors: readonly string[];
  close(): void;
}

/**
 * Opens `spec` (folder, hub-cache id or the built-in model's name). Weights are required unless
 * `weightsOptional`; `read` reads them whole instead of mapping them.
 */
export function openCheckpoint(
  spec: string,
  options: { weightsOptional?: boolean; read?: boolean } = {},
): Checkpoint {
  const dir = resolveModelDir(spec);
  const config = parseLlamaConfig(readJson(`${dir}/config.json`), `${dir}/config.json`);
  const genPath = `${dir}/generation_config.json`;
  const generation = parseGenerationConfig(readJson(genPath, { optional: true }), genPath);
  const weights = openWeights(dir, { read: options.read });
  if (!weights && !options.weightsOptional) {
    throw new InputError(
      `Cannot find weights in ${dir}: expected model.safetensors or model.safetensors.index.json`,
    );
  }
  let extraTensors: string[] = [];
  try {
    if (weights) extraTensors = checkTensors(config, weights.tensors);
  } catch (e) {
    weights?.close();
    throw e;
  }
  return { dir, config, generation, weights, extraTensors, close: () => weights?.close() };
}
