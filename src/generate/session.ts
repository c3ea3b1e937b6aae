/**
 * A session: a model opened with everything generation needs from its folder — tokenizer, chat
 * template, the ids that end a reply, and the defaults of every request (generation_config.json
 * as Hugging Face's `generate` reads it, then the caller's settings, merged once). It also turns
 * a request's prompt into ids, by one convention for every front end.
 * @module
 */
import { InputError } from "../errors.ts";
import { openCheckpoint } from "../model/checkpoint.ts";
import type { GenerationDefaults, LlamaConfig } from "../model/config.ts";
import type { Llama, LoadOptions } from "../model/llama.ts";
import { loadModel } from "../model/load.ts";
import { type ChatMessage, ChatTemplate } from "../text/chat_template.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { FieldError, mergeSampling, type PromptInput } from "./request.ts";
import type { ToolUse } from "./tools.ts";
import type { SamplingParams } from "./sampling.ts";

/** How to open a session. */
export interface SessionOptions {
  /** Context length in tokens (default: min(max_position_embeddings, 4096)). */
  contextLength?: number;
  /** Pack the matrices while loading (default: as stored). */
  weights?: LoadOptions["weights"];
  /** A PEFT LoRA adapter folder merged into the weights at load. */
  adapter?: string;
  /** Sequences the model holds at once (batch, serve). @default 1 */
  slots?: number;
  /** Sampling settings over generation_config.json's. */
  sampling?: Partial<SamplingParams>;
  /** Most new tokens of a reply. @default 256 */
  maxTokens?: number;
  stop?: string[];
  /** A system message for chat prompts that have none. */
  system?: string;
  /** Refuse a folder without tokenizer.json, saying why one is needed. */
  tokenizerFor?: string;
  onProgress?: (done: number, total: number) => void;
}

/** A model ready to answer requests. */
export interface Session {
  readonly model: Llama;
  /** Undefined when the folder has no tokenizer.json (then only token ids go in and out). */
  readonly tokenizer: TextTokenizer | undefined;
  /** Undefined when the folder has no chat template (prompts are plain text). */
  readonly template: ChatTemplate | undefined;
  readonly terminators: ReadonlySet<number>;
  /** Defaults of every request. */
  sampling: SamplingParams;
  maxTokens: number;
  stop: string[];
  system: string | undefined;
  /** What the user should know about the settings. */
  readonly warnings: readonly string[];
  /** Text of generated ids (special tokens left out). */
  decode(ids: readonly number[]): string;
  /** Frees the model's GPU memory and its device. */
  close(): void;
}

/** Opens `spec` (a folder, a hub-cache id or the built-in model's name) for generation. */
export async function openSession(spec: string, options: SessionOptions = {}): Promise<Session> {
  // The folder and what the caller needs from it are checked before the weights load.
  const checked = openCheckpoint(spec, { weightsOptional: true });
  checked.close();
  const { dir } = checked;
  const tokenizer = TextTokenizer.load(dir);
  if (options.tokenizerFor && !tokenizer) {
    throw new InputError(`Cannot find tokenizer.json in ${dir}: ${options.tokenizerFor}`);
  }
  const loaded = await loadModel(dir, {
    ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
    weights: options.weights,
    ...(options.adapter !== undefined ? { adapter: options.adapter } : {}),
    onProgress: options.onProgress,
    ...(options.slots ? { slots: options.slots } : {}),
  });
  const { model } = loaded;
  const warnings: string[] = [];
  const trained = model.config.maxPositionEmbeddings;
  if (model.contextLength > trained) {
    warnings.push(
      `--ctx ${model.contextLength} is beyond the ${trained} positions the model was trained for: past them its output degrades`,
    );
  }
  return {
    model,
    tokenizer,
    template: tokenizer && ChatTemplate.load(loaded.dir, tokenizer),
    terminators: terminatorIds(model.config, loaded.generation, tokenizer),
    sampling: mergeSampling(generationDefaults(loaded.generation), options.sampling ?? {}),
    maxTokens: options.maxTokens ?? 256,
    stop: options.stop ?? [],
    system: options.system,
    warnings,
    decode: (ids) => tokenizer?.decode(ids, { skipSpecial: true }) ?? "",
    close: loaded.close,
  };
}

/**
 * Sampling as Hugging Face's `generate` reads generation_config.json: greedy unless
 * `do_sample`, then its temperature, top_k (50 when absent) and top_p; a random seed.
 */
export function generationDefaults(g: GenerationDefaults): SamplingParams {
  return {
    temperature: g.doSample === true ? g.temperature ?? 1 : 0,
    topK: g.topK ?? 50,
    topP: g.topP ?? 1,
    minP: 0,
    repetitionPenalty: 1,
    seed: (Math.random() * 2 ** 32) >>> 0,
  };
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

/**
 * A prompt's ids, by one convention for every front end. Messages go through the chat template
 * (the session's system message first when they have none); plain text is tokenized as Hugging
 * Face tokenizes a string (its post-processor adds what the model expects, BOS or nothing); with
 * no template, or `raw`, messages are their contents joined by newlines, as plain text. Token ids
 * are taken as they are, if the vocabulary holds them.
 */
export function promptIds(
  s: Session,
  input: PromptInput,
  options: { raw?: boolean; tools?: ToolUse } = {},
): number[] {
  if (options.tools && !s.template?.acceptsTools) {
    throw new FieldError(
      "tools",
      undefined,
      "",
      "unsupported_value",
      `"tools": this model's chat template cannot offer tools (it has no "tools" variable)`,
    );
  }
  if ("ids" in input) {
    const vocab = s.model.config.vocabSize;
    const outside = input.ids.find((id) => id >= vocab);
    if (outside !== undefined) {
      throw new FieldError(
        "prompt_ids",
        outside,
        `token ids from 0 to ${vocab - 1}`,
        "invalid_value",
      );
    }
    return input.ids;
  }
  if (!s.tokenizer) {
    throw new InputError("the model has no tokenizer.json: prompts must be token ids");
  }
  const messages: ChatMessage[] = "messages" in input
    ? input.messages
    : [{ role: "user", content: input.text }];
  if (options.raw || !s.template) {
    const text = "text" in input ? input.text : messages.map((m) => m.content).join("\n");
    return s.tokenizer.encode(text, { postProcess: true });
  }
  const system = s.system !== undefined && messages[0]?.role !== "system"
    ? [{ role: "system", content: s.system }]
    : [];
  try {
    return s.template.encode([...system, ...messages], { tools: options.tools?.tools });
  } catch (e) {
    throw new FieldError(
      "messages",
      undefined,
      "messages the chat template can render",
      "invalid_value",
      `The chat template cannot render these messages: ${e instanceof Error ? e.message : e}`,
    );
  }
}
