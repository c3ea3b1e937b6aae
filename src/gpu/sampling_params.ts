/** How each token is chosen: the settings of the GPU's sample kernel (and of its CPU reference). */

/** How to choose each token. */
export interface SamplingParams {
  /** 0 means greedy (argmax). */
  readonly temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  readonly topK: number;
  /** Keep the smallest set of top tokens with mass ≥ p; 1 = off. */
  readonly topP: number;
  /** Drop tokens less likely than minP × the top probability; 0 = off. */
  readonly minP: number;
  /** Divide positive (multiply negative) logits of tokens already in the context; 1 = off. */
  readonly repetitionPenalty: number;
  /** Seed of the draws; the same seed and prompt give the same text. */
  readonly seed: number;
}

/** Greedy decoding. */
export const GREEDY: SamplingParams = Object.freeze({
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  seed: 0,
});
