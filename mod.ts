/**
 * wgllama's library API: open a Hugging Face Llama folder, validate it, and inspect it.
 *
 * @example
 * ```ts
 * import { inspectCheckpoint, openCheckpoint } from "./mod.ts";
 * const ckpt = openCheckpoint("tests/fixtures/tiny-f32");
 * console.log(inspectCheckpoint(ckpt, 1024).parameters.total);
 * ckpt.close();
 * ```
 * @module
 */
export { InputError, UsageError } from "./src/errors.ts";
export { type Checkpoint, openCheckpoint } from "./src/model/checkpoint.ts";
export {
  type GenerationDefaults,
  type LlamaConfig,
  parseGenerationConfig,
  parseLlamaConfig,
} from "./src/model/config.ts";
export { inspectCheckpoint, type InspectReport } from "./src/model/inspect.ts";
export { countParameters, expectedTensors } from "./src/model/tensors.ts";
export { type DType, type TensorInfo, TensorStore } from "./src/io/safetensors.ts";
export { resolveModelDir } from "./src/io/hf_folder.ts";
