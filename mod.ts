/**
 * wgllama's library API: open a Hugging Face Llama folder, run it on WebGPU, and generate text.
 *
 * @example
 * ```ts
 * import { generate, openSession, promptIds } from "./mod.ts";
 * const session = await openSession("tests/fixtures/tiny-llama3-vocab"); // or "stories-260k"
 * const prompt = promptIds(session, { messages: [{ role: "user", content: "Hi!" }] });
 * const reply = await generate(session.model, prompt, {
 *   sampling: session.sampling, // generation_config.json's defaults
 *   maxTokens: 16,
 *   terminators: session.terminators, // every id that ends a reply, from the folder
 *   decode: session.decode,
 * });
 * console.log(reply.text);
 * session.close();
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
export {
  Engine,
  type EngineOptions,
  type EngineRequest,
  type EngineResult,
} from "./src/generate/engine.ts";
export {
  FieldError,
  type GenerationRequest,
  mergeSampling,
  parseRequest,
  type PromptInput,
} from "./src/generate/request.ts";
export {
  openSession,
  promptIds,
  type Session,
  type SessionOptions,
  terminatorIds,
} from "./src/generate/session.ts";
export { TextTokenizer } from "./src/text/tokenizer.ts";
export { type ChatMessage, ChatTemplate } from "./src/text/chat_template.ts";
