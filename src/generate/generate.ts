/**
 * One reply to one prompt: a request submitted alone to an {@linkcode Engine} over the model's
 * first slot. The KV cache keeps whatever prefix the prompt shares with what it holds, so a chat's
 * next turn prefills only its new tokens.
 * @module
 */
import { type CausalLM, Engine, type TokenConstraint } from "./engine.ts";
import type { GenerateResult, ReplyOptions } from "./reply.ts";
import type { SamplingParams } from "./sampling.ts";

export type { CausalLM } from "./engine.ts";
export type { FinishReason, GenerateResult } from "./reply.ts";

/** Options of {@linkcode generate}. */
export interface GenerateOptions extends ReplyOptions {
  sampling: SamplingParams;
  /** Each generated token's log-probability with this many alternatives (0..20). */
  logprobs?: number;
  /** Only what this constraint allows may be drawn (structured output). */
  constraint?: TokenConstraint;
  /** Stops after the current batch of tokens when aborted (finish reason "interrupted"). */
  signal?: AbortSignal;
}

/** Generates a reply to `prompt` (ids). */
export function generate(
  model: CausalLM,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  if (prompt.length === 0) throw new RangeError("generate needs at least one prompt token");
  const { terminators, decode, ...request } = options;
  return new Engine(model, { terminators, decode }).submit({ ...request, promptIds: prompt });
}
