/**
 * What `run` and `chat` share: the generation flags, merged over generation_config.json (the one
 * merge point), and a loaded model with its tokenizer, chat template and terminators.
 * @module
 */
import { InputError, UsageError } from "../errors.ts";
import { pathIs, resolveModelDir } from "../io/hf_folder.ts";
import type { PackFormat } from "../gpu/buffers.ts";
import type { SamplingParams } from "../generate/sampling.ts";
import { loadModel } from "../model/load.ts";
import type { Llama } from "../model/llama.ts";
import type { GenerationDefaults, LlamaConfig } from "../model/config.ts";
import { ChatTemplate } from "../text/chat_template.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { intFlag, numberFlag } from "./args.ts";
import { err } from "./output.ts";
import { progressBar } from "./progress.ts";

/** parseArgs options of the flags that shape generation. */
export const GENERATION_FLAGS = {
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string" },
  "top-k": { type: "string" },
  "min-p": { type: "string" },
  "repetition-penalty": { type: "string" },
  seed: { type: "string" },
  stop: { type: "string", multiple: true },
  system: { type: "string" },
  ctx: { type: "string" },
  weights: { type: "string" },
} as const;

/** `--weights`: as stored (undefined), rounded to bf16, or quantized at load. */
export function weightsFlag(value: string | undefined): PackFormat | undefined {
  if (["bf16", "q8", "q5", "q4", undefined].includes(value)) return value as PackFormat | undefined;
  throw new UsageError(`--weights is "${value}": expected bf16, q8, q5 or q4`);
}

/** Help text for {@linkcode GENERATION_FLAGS}. */
export const GENERATION_HELP = `  --system TEXT            system message (chat template)
  --max-tokens N           most new tokens per reply (default 256)
  --temperature T          0 = greedy (default: generation_config.json, else greedy)
  --top-p P, --top-k K     nucleus / top-k filtering (default: generation_config.json; top-k 50 when sampling)
  --min-p P                drop tokens below P × the top probability (default 0 = off)
  --repetition-penalty R   penalise tokens already in the context (default 1 = off)
  --seed S                 seed of the draws: the same seed reproduces a run (default: random)
  --stop STR               stop when the text contains STR (repeatable; STR not printed)
  --ctx N                  context length in tokens (default: min(max_position_embeddings, 4096))
  --weights F              bf16 | q8 | q5 | q4: round (bf16) or quantize the matrices on the GPU while loading
                           (default: as stored)`;

type FlagValues = {
  [K in keyof typeof GENERATION_FLAGS]?: (typeof GENERATION_FLAGS)[K] extends { multiple: true }
    ? string[]
    : string;
};

/** Sampling settings: generation_config.json defaults (as HF's generate reads them), then flags. */
export function samplingFrom(values: FlagValues, defaults: GenerationDefaults): SamplingParams {
  const sampling = defaults.doSample === true;
  let temperature = sampling ? defaults.temperature ?? 1 : 0;
  if (values.temperature !== undefined) {
    temperature = numberFlag("temperature", values.temperature, 0, 100);
  }
  return {
    temperature,
    topK: values["top-k"] !== undefined
      ? intFlag("top-k", values["top-k"], 0)
      : defaults.topK ?? 50,
    topP: values["top-p"] !== undefined
      ? numberFlag("top-p", values["top-p"], 0, 1)
      : defaults.topP ?? 1,
    minP: values["min-p"] !== undefined ? numberFlag("min-p", values["min-p"], 0, 1) : 0,
    repetitionPenalty: values["repetition-penalty"] !== undefined
      ? numberFlag("repetition-penalty", values["repetition-penalty"], 0.01, 100)
      : 1,
    seed: values.seed !== undefined
      ? intFlag("seed", values.seed, 0, 0xffffffff)
      : (Math.random() * 2 ** 32) >>> 0,
  };
}

/** A model ready to talk. */
export interface Session {
  model: Llama;
  /** Undefined when the folder has no tokenizer.json (then only token ids can go in and out). */
  tokenizer: TextTokenizer | undefined;
  /** Undefined when the folder has no chat template (raw mode). */
  template: ChatTemplate | undefined;
  terminators: Set<number>;
  sampling: SamplingParams;
  maxTokens: number;
  stop: string[];
  system: string | undefined;
  /** What the user should know about the settings (also printed to stderr at open). */
  warnings: string[];
  /** Frees the GPU (the model and its device). */
  close(): void;
}

/** Every id that ends a reply: eos ids of both configs and the tokenizer, <|eot_id|>, <|eom_id|>. */
export function terminatorIds(
  config: LlamaConfig,
  defaults: GenerationDefaults,
  tokenizer: TextTokenizer | undefined,
): Set<number> {
  const ids = new Set([...config.eosTokenIds, ...defaults.eosTokenIds]);
  if (!tokenizer) return ids;
  if (tokenizer.eosTokenId !== undefined) ids.add(tokenizer.eosTokenId);
  for (const t of ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]) {
    const id = tokenizer.specialTokens.get(t);
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

/** Loads the model, tokenizer and template of `spec` with the generation flags applied. */
export async function openSession(
  spec: string,
  values: FlagValues,
  options: { slots?: number; tokenizerFor?: string } = {},
): Promise<Session> {
  samplingFrom(values, { eosTokenIds: [] }); // flag mistakes are usage errors, before any loading
  const maxTokens = values["max-tokens"] !== undefined
    ? intFlag("max-tokens", values["max-tokens"])
    : 256;
  const contextLength = values.ctx !== undefined ? intFlag("ctx", values.ctx, 2) : undefined;
  const weights = weightsFlag(values.weights);
  // What the command needs is checked before the weights load, not after.
  const dir = resolveModelDir(spec);
  if (options.tokenizerFor && !pathIs(`${dir}/tokenizer.json`, "file")) {
    throw new InputError(`Cannot find tokenizer.json in ${dir}: ${options.tokenizerFor}`);
  }
  const loaded = await loadModel(dir, {
    contextLength,
    weights,
    onProgress: progressBar("Loading"),
    ...(options.slots ? { slots: options.slots } : {}),
  });
  const tokenizer = TextTokenizer.load(loaded.dir);
  const warnings: string[] = [];
  const trained = loaded.model.config.maxPositionEmbeddings;
  if (loaded.model.contextLength > trained) {
    warnings.push(
      `--ctx ${loaded.model.contextLength} is beyond the ${trained} positions the model was trained for: past them its output degrades`,
    );
  }
  for (const w of warnings) err(`wgllama: warning: ${w}`);
  return {
    model: loaded.model,
    tokenizer,
    template: tokenizer && ChatTemplate.load(loaded.dir, tokenizer),
    terminators: terminatorIds(loaded.model.config, loaded.generation, tokenizer),
    sampling: samplingFrom(values, loaded.generation),
    maxTokens,
    stop: values.stop ?? [],
    system: values.system,
    warnings,
    close: loaded.close,
  };
}
