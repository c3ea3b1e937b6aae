/**
 * Many prompts through one model. Each request carries its own sampling, limits and stop strings;
 * results come back in input order. For now requests run one after another (each reusing the KV
 * cache prefix it shares with the previous one); the batched forward that reads each weight once
 * for several sequences will slot in behind this interface (issue #6).
 * @module
 */
import { type CausalLM, generate, type GenerateResult } from "./generate.ts";
import type { SamplingParams } from "./sampling.ts";
import type { Decode } from "./text_stream.ts";

/** One prompt and how to answer it. */
export interface BatchRequest {
  /** Prompt token ids (chat template already applied, or raw). */
  promptIds: readonly number[];
  sampling: SamplingParams;
  maxTokens: number;
  stop?: readonly string[];
}

/** Options shared by every request. */
export interface BatchOptions {
  terminators: ReadonlySet<number>;
  decode: Decode;
  /** Receives each result as soon as it and all before it are done (input order). */
  onResult?: (index: number, result: GenerateResult) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Generates a reply to every request, in input order. */
export async function generateBatch(
  model: CausalLM,
  requests: readonly BatchRequest[],
  options: BatchOptions,
): Promise<GenerateResult[]> {
  const results: GenerateResult[] = [];
  for (const [i, r] of requests.entries()) {
    if (options.signal?.aborted) break;
    const result = await generate(model, r.promptIds, {
      sampling: r.sampling,
      maxTokens: r.maxTokens,
      terminators: options.terminators,
      stop: r.stop ?? [],
      decode: options.decode,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (result.finishReason === "interrupted") break; // partial: left for a later run
    results.push(result);
    await options.onResult?.(i, result);
  }
  return results;
}
