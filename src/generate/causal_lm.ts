/**
 * The seam between the decode loop and a model: what {@linkcode CausalLM} a model must offer
 * (the GPU model, or a scripted CPU one in tests), and the requests and results the loop takes
 * and gives.
 * @module
 */
import type { TokenLogprobs } from "../model/logprobs.ts";
import type { GenerateResult } from "./reply.ts";
import type { SamplingParams } from "./sampling.ts";

export type { TokenLogprobs } from "../model/logprobs.ts";

/** What the loop needs from a model: sequences in slots, each with its own KV cache. */
export interface CausalLM {
  readonly config: { readonly vocabSize: number };
  readonly contextLength: number;
  /** Sequences held at once. */
  readonly slots: number;
  /** Token ids in a slot's KV cache. */
  tokensOf(slot: number): readonly number[];
  setSampling(p: SamplingParams, slot?: number): void;
  /** Runs ids into `slot` from `start` (default: its cache length); returns the sampled next id. */
  step(ids: readonly number[], start?: number, slot?: number): Promise<number>;
  /** Forgets a slot's cached positions ≥ n. */
  truncate(n: number, slot?: number): void;
  /**
   * Feeds each row's id into its slot and samples `steps` tokens per row without a host round
   * trip between them; all but the last sampled id of each row enter its cache.
   */
  decodeRows(rows: readonly { slot: number; id: number }[], steps?: number): Promise<number[][]>;
  /** Optional: copies slot `from`'s first `n` cached positions into slot `to`. */
  copyPrefix?(from: number, to: number, n: number): void;
  /**
   * Optional, with the two below: records each token sampled in `slot` with its log-probability
   * and `top` alternatives (undefined: records none).
   */
  setLogprobs?(top: number | undefined, slot: number): void;
  /** The record of the token sampled at `position` of `slot`, once its id has been returned. */
  logprobsAt?(slot: number, position: number): TokenLogprobs;
  /** Runs all but the last of `ids` into `slot` from 0; the log-probability of each id after the first. */
  scorePrompt?(ids: readonly number[], top: number, slot: number): Promise<TokenLogprobs[]>;
  /** Optional: only tokens whose bits `allowed` sets may be drawn next in `slot` (undefined: any). */
  setMask?(slot: number, allowed: Uint32Array<ArrayBuffer> | undefined): void;
}

/**
 * What may come next in a constrained reply (a grammar): a mask for the next token, moved on by
 * each token drawn. The engine draws such a reply one token per step.
 */
export interface TokenConstraint {
  /** Bit i of word i >> 5 set: token i may come next. */
  allowed(): Promise<Uint32Array<ArrayBuffer>>;
  /** Moves past the drawn token; false if it does not fit (the reply then ends). */
  accept(id: number): boolean;
}

/** One request to the engine. */
export interface EngineRequest {
  promptIds: readonly number[];
  sampling: SamplingParams;
  /** 0 only with `echo`: the prompt is scored, nothing generated. */
  maxTokens: number;
  stop?: readonly string[];
  /** Each generated token's log-probability with this many alternatives (0..20). */
  logprobs?: number;
  /** Scores the prompt too (`promptLogprobs`); its cached prefix is then not reused. */
  echo?: boolean;
  /** Only what this constraint allows may be drawn (structured output). */
  constraint?: TokenConstraint;
  /** Receives text as it is produced (and the log-probabilities of the tokens behind it). */
  onText?: (delta: string, logprobs?: readonly TokenLogprobs[]) => void;
  /** Aborting frees the request's slot at the next step; it ends as "interrupted". */
  signal?: AbortSignal;
}

/** A finished request: the generation result and how many prompt tokens came from the cache. */
export interface EngineResult extends GenerateResult {
  cachedTokens: number;
  /** With `echo`: each prompt token's after the first. */
  promptLogprobs?: TokenLogprobs[];
  /** Seconds from submit to the first token. */
  firstTokenSeconds: number;
}
