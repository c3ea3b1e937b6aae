/**
 * The generation loop: prefill the prompt (reusing the cached prefix), then decode one token at a
 * time until a terminator, a stop string, the token limit, the context end or an abort. It sees
 * the model only through {@linkcode CausalLM}, so it is tested with a scripted CPU model.
 * @module
 */
import type { SamplingParams } from "./sampling.ts";
import { type Decode, TextStream } from "./text_stream.ts";

/** What the loop needs from a model. */
export interface CausalLM {
  readonly config: { readonly vocabSize: number };
  readonly contextLength: number;
  /** Token ids in the KV cache. */
  readonly tokens: readonly number[];
  setSampling(p: SamplingParams): void;
  /** Runs ids from `start` (default: the cache length) and returns the sampled next id. */
  step(ids: readonly number[], start?: number): Promise<number>;
  /** Forgets cached positions ≥ n. */
  truncate(n: number): void;
  /**
   * Optional: feeds `first` and samples `steps` tokens without a host round trip between them;
   * all but the last sampled id enter the cache.
   */
  decode?(first: number, steps: number): Promise<number[]>;
}

/** Prompt tokens a reply's text is decoded after (so its first piece keeps its leading space). */
const CONTEXT_TOKENS = 4;

/** Most tokens decoded per host round trip; batches are sized to return about every 100 ms. */
export const MAX_BATCH = 32;
const FLUSH_SECONDS = 0.1;

/** Steps for the next decode batch, after steps that took `secondsPerStep` each. */
export function nextBatch(secondsPerStep: number): number {
  return Math.max(
    1,
    Math.min(MAX_BATCH, Math.floor(FLUSH_SECONDS / Math.max(secondsPerStep, 1e-6))),
  );
}

/** Options of {@linkcode generate}. */
export interface GenerateOptions {
  sampling: SamplingParams;
  /** Most new tokens. */
  maxTokens: number;
  /** Ids that end the reply (not part of its text). */
  terminators: ReadonlySet<number>;
  /** Texts that end the reply (not printed). */
  stop?: readonly string[];
  decode: Decode;
  /** Receives text as it is produced. */
  onText?: (delta: string) => void;
  /** Stops after the current token when aborted. */
  signal?: AbortSignal;
}

/**
 * Why generation ended: a terminator or stop string, max tokens, a full context, or the caller's
 * abort signal.
 */
export type FinishReason = "stop" | "length" | "context" | "interrupted";

/** The outcome of {@linkcode generate}. */
export interface GenerateResult {
  text: string;
  /** Generated ids, the terminator excluded. */
  tokens: number[];
  finishReason: FinishReason;
  /** True when the context filled up. */
  contextFull: boolean;
  promptTokens: number;
  /** Prompt tokens actually computed (the rest came from the cache). */
  prefillTokens: number;
  timings: {
    prefillSeconds: number;
    decodeSeconds: number;
    prefillTokensPerSecond: number;
    decodeTokensPerSecond: number;
  };
}

/**
 * One reply in the making: turns sampled ids into streamed text and decides when it is finished
 * (terminator, stop string, token limit). Shared by the single and the batched loops.
 */
export class Reply {
  readonly tokens: number[] = [];
  text = ""; // emitted
  finishReason: FinishReason | undefined;
  readonly #stream: TextStream;
  readonly #stops: string[];
  #held = ""; // produced but possibly the start of a stop string

  constructor(
    readonly options: Pick<
      GenerateOptions,
      "maxTokens" | "terminators" | "stop" | "decode" | "onText"
    >,
    prompt: readonly number[] = [],
  ) {
    this.#stream = new TextStream(options.decode, prompt.slice(-CONTEXT_TOKENS));
    this.#stops = (options.stop ?? []).filter((s) => s.length > 0);
  }

  /** Takes the next sampled id; returns true when the reply is finished. */
  accept(id: number): boolean {
    if (this.options.terminators.has(id)) return this.#end("stop");
    this.tokens.push(id);
    if (this.#text(this.#stream.push(id))) return this.#end("stop");
    if (this.tokens.length >= this.options.maxTokens) return this.#end("length");
    return false;
  }

  /** Ends the reply for another reason (the context filled, an interruption). */
  end(reason: FinishReason): void {
    if (this.finishReason === undefined) this.#end(reason);
  }

  #end(reason: FinishReason): true {
    // Text held back for a possible stop string or an incomplete character is emitted unless a
    // stop string ended the reply.
    if (reason !== "stop" && this.#text(this.#stream.flush())) reason = "stop";
    if (reason !== "stop") this.#emit(this.#held);
    this.#held = "";
    this.finishReason = reason;
    return true;
  }

  /** Takes new text; returns true when a stop string completed. */
  #text(delta: string): boolean {
    this.#held += delta;
    const held = this.#held;
    // Held text is the only place a stop string can start: anything that could begin one is held.
    const at = Math.min(...this.#stops.map((s) => held.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(at)) {
      this.#emit(held.slice(0, at));
      this.#held = "";
      return true;
    }
    let keep = 0; // longest tail of held that could begin a stop string
    for (const s of this.#stops) {
      for (let n = Math.min(s.length - 1, held.length); n > keep; n--) {
        if (s.startsWith(held.slice(-n))) keep = n;
      }
    }
    this.#emit(held.slice(0, held.length - keep));
    this.#held = held.slice(held.length - keep);
    return false;
  }

  #emit(t: string): void {
    if (!t) return;
    this.text += t;
    this.options.onText?.(t);
  }
}

/** How many leading tokens of `prompt` a cache holding `cached` can keep (at least one is recomputed). */
export function reusablePrefix(cached: readonly number[], prompt: readonly number[]): number {
  let n = 0;
  while (n < prompt.length - 1 && n < cached.length && cached[n] === prompt[n]) n++;
  return n;
}

/** The result record of a finished reply. */
export function resultOf(
  reply: Reply,
  prompt: readonly number[],
  prefillTokens: number,
  seconds: { prefill: number; decode: number },
  contextFull = false,
): GenerateResult {
  return {
    text: reply.text,
    tokens: reply.tokens,
    finishReason: reply.finishReason ?? "length",
    contextFull,
    promptTokens: prompt.length,
    prefillTokens,
    timings: {
      prefillSeconds: seconds.prefill,
      decodeSeconds: seconds.decode,
      prefillTokensPerSecond: prefillTokens / Math.max(seconds.prefill, 1e-9),
      decodeTokensPerSecond: Math.max(0, reply.tokens.length - 1) / Math.max(seconds.decode, 1e-9),
    },
  };
}

/** Generates a reply to `prompt` (ids); the KV cache keeps whatever prefix it shares. */
export async function generate(
  model: CausalLM,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  if (prompt.length === 0) throw new RangeError("generate needs at least one prompt token");
  const reused = reusablePrefix(model.tokens, prompt);
  model.truncate(reused);
  model.setSampling(options.sampling);
  const reply = new Reply(options, prompt);
  let contextFull = false;
  const t0 = performance.now();
  const pending = [await model.step(prompt.slice(reused), reused)];
  const t1 = performance.now();
  let batch = 1;
  while (!reply.accept(pending.shift()!)) {
    if (options.signal?.aborted) {
      reply.end("interrupted");
      break;
    }
    if (pending.length > 0) continue;
    const room = model.contextLength - model.tokens.length;
    if (room <= 0) {
      contextFull = true;
      reply.end("context");
      break;
    }
    const id = reply.tokens.at(-1)!;
    const steps = Math.min(batch, options.maxTokens - reply.tokens.length, room);
    const t = performance.now();
    pending.push(
      ...(model.decode && steps > 1 ? await model.decode(id, steps) : [await model.step([id])]),
    );
    batch = nextBatch((performance.now() - t) / 1000 / steps);
  }
  // Tokens decoded past the end (a terminator or stop inside a batch) leave the cache.
  model.truncate(prompt.length + reply.tokens.length);
  const t2 = performance.now();
  return resultOf(reply, prompt, prompt.length - reused, {
    prefill: (t1 - t0) / 1000,
    decode: (t2 - t1) / 1000,
  }, contextFull);
}
