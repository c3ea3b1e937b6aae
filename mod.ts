/**
 * wgllama's library API: open a Hugging Face Llama folder, run it on WebGPU, and generate text.
 *
 * @example
 * ```ts
 * import { ChatTemplate, generate, GREEDY, loadModel, TextTokenizer } from "./mod.ts";
 * const { model, dir } = await loadModel("tests/fixtures/tiny-llama3-vocab"); // or "stories-260k"
 * const tokenizer = TextTokenizer.load(dir)!;
 * const prompt = ChatTemplate.load(dir, tokenizer)!.encode([{ role: "user", content: "Hi!" }]);
 * const reply = await generate(model, prompt, {
 *   sampling: GREEDY,
 *   maxTokens: 16,
 *   terminators: new Set([128009]),
 *   decode: (ids) => tokenizer.decode(ids, { skipSpecial: true }),
 * });
 * console.log(reply.text);
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
export { type BenchmarkOptions, runBenchmark } from "./src/model/benchmark.ts";
export { compareLogits, compareWeights, type WeightComparison } from "./src/model/compare.ts";
export { countParameters, expectedTensors } from "./src/model/tensors.ts";
export { IGNORE_INDEX, Llama, type LoadOptions } from "./src/model/llama.ts";
export {
  perplexity,
  type PerplexityResult,
  perplexityWindows,
  type ScoringModel,
  type Window,
} from "./src/model/perplexity.ts";
export { type LoadedModel, loadModel } from "./src/model/load.ts";
export { type Gpu, openGpu } from "./src/gpu/device.ts";
export { type DType, type TensorInfo, TensorStore } from "./src/io/safetensors.ts";
export {
  BUILTIN_MODEL,
  builtinModelDir,
  defaultModel,
  resolveModelDir,
} from "./src/io/hf_folder.ts";
export {
  type CausalLM,
  generate,
  type GenerateOptions,
  type GenerateResult,
} from "./src/generate/generate.ts";
export {
  GREEDY,
  sampleToken,
  type SamplingParams,
  tokenProbabilities,
} from "./src/generate/sampling.ts";
export { TextStream } from "./src/generate/text_stream.ts";
export { type BatchOptions, type BatchRequest, generateBatch } from "./src/generate/batch.ts";
export { TextTokenizer } from "./src/text/tokenizer.ts";
export { type ChatMessage, ChatTemplate } from "./src/text/chat_template.ts";
