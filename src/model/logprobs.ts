/**
 * Log-probabilities as the logprobs kernel records them (kernels/logprobs.wgsl): a token's
 * log_softmax under the model's raw logits, and its most likely alternatives.
 * @module
 */
import { LOGPROB_RECORD } from "../gpu/ops.ts";

/** A token's log-probability, and the `top` most likely tokens at its position with theirs. */
export interface TokenLogprobs {
  id: number;
  logprob: number;
  /** Most likely first (the lower id first on ties). */
  top: { id: number; logprob: number }[];
}

/** Record `index` of the kernel's output words. */
export function readRecord(words: Uint32Array, index: number): TokenLogprobs {
  const at = index * LOGPROB_RECORD;
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  return {
    id: words[at]!,
    logprob: floats[at + 1]!,
    top: Array.from({ length: words[at + 2]! }, (_, k) => ({
      id: words[at + 3 + 2 * k]!,
      logprob: floats[at + 4 + 2 * k]!,
    })),
  };
}
