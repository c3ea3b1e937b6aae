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

/** Most tokens decoded per host round trip; batches are sized to return about every 100 ms. */
const MAX_BATCH = 32;
const FLUSH_SECONDS = 0.1;

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

/** Why generation ended. */
export type FinishReason = "stop" | "length" | "interrupted";

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

/** Generates a reply to `prompt` (ids); the KV cache keeps whatever prefix it shares. */
export async function generate(
  model: CausalLM,
  prompt: readonly number[],
  o: GenerateOptions,
): Promise<GenerateResult> {
  if (prompt.length === 0) throw new RangeError("generate needs at least one prompt token");
  let reused = 0;
  const cached = model.tokens;
  while (
    reused < prompt.length - 1 && reused < cached.length && cached[reused] === prompt[reused]
  ) reused++;
  model.truncate(reused);
  model.setSampling(o.sampling);
  const stream = new TextStream(o.decode);
  const stops = (o.stop ?? []).filter((s) => s.length > 0);
  const tokens: number[] = [];
  let text = ""; // emitted
  let held = ""; // produced but possibly the start of a stop string
  let finishReason: FinishReason = "length";
  let contextFull = false;

  /** Takes new text; returns true when a stop string completed. */
  const accept = (delta: string): boolean => {
    held += delta;
    // Held text is the only place a stop string can start: anything that could begin one is held.
    const at = Math.min(...stops.map((s) => held.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(at)) {
      emit(held.slice(0, at));
      held = "";
      return true;
    }
    let keep = 0; // longest tail of held that could begin a stop string
    for (const s of stops) {
      for (let n = Math.min(s.length - 1, held.length); n > keep; n--) {
        if (s.startsWith(held.slice(-n))) keep = n;
      }
    }
    emit(held.slice(0, held.length - keep));
    held = held.slice(held.length - keep);
    return false;
  };
  const emit = (t: string) => {
    if (!t) return;
    text += t;
    o.onText?.(t);
  };

  const t0 = performance.now();
  const pending = [await model.step(prompt.slice(reused), reused)];
  const t1 = performance.now();
  let batch = 1;
  while (true) {
    const id = pending.shift()!;
    if (o.terminators.has(id)) {
      finishReason = "stop";
      break;
    }
    tokens.push(id);
    if (accept(stream.push(id))) {
      finishReason = "stop";
      break;
    }
    if (tokens.length >= o.maxTokens) break;
    if (o.signal?.aborted) {
      finishReason = "interrupted";
      break;
    }
    if (pending.length > 0) continue;
    const room = model.contextLength - model.tokens.length;
    if (room <= 0) {
      contextFull = true;
      break;
    }
    const steps = Math.min(batch, o.maxTokens - tokens.length, room);
    const t = performance.now();
    pending.push(
      ...(model.decode && steps > 1 ? await model.decode(id, steps) : [await model.step([id])]),
    );
    const perStep = (performance.now() - t) / 1000 / steps;
    batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(FLUSH_SECONDS / Math.max(perStep, 1e-6))));
  }
  // Tokens decoded past the end (a terminator or stop inside a batch) leave the cache.
  model.truncate(prompt.length + tokens.length);
  if (finishReason !== "stop" && accept(stream.flush())) finishReason = "stop";
  if (finishReason !== "stop") emit(held);
  const t2 = performance.now();
  const prefillSeconds = (t1 - t0) / 1000;
  const decodeSeconds = (t2 - t1) / 1000;
  return {
    text,
    tokens,
    finishReason,
    contextFull,
    promptTokens: prompt.length,
    prefillTokens: prompt.length - reused,
    timings: {
      prefillSeconds,
      decodeSeconds,
      prefillTokensPerSecond: (prompt.length - reused) / Math.max(prefillSeconds, 1e-9),
      decodeTokensPerSecond: Math.max(0, tokens.length - 1) / Math.max(decodeSeconds, 1e-9),
    },
  };
}
