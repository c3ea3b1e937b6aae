/**
 * Sampling settings and a plain CPU implementation of the same rule the GPU's sample kernel
 * follows: Hugging Face's processors in order (repetition penalty, temperature, top-k, top-p,
 * min-p), then an inverse-CDF draw in vocabulary order with u from a counter hash of
 * (seed, position). The CPU version is the specification, the fake models' sampler and the
 * kernel's test reference.
 * @module
 */

import type { SamplingParams } from "../model/sampling_params.ts";
export { GREEDY, type SamplingParams } from "../model/sampling_params.ts";

/** PCG hash, as in kernels/sample.wgsl. */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The uniform draw in [0, 1) for the token at `position`. */
export function drawUniform(seed: number, position: number): number {
  const h = pcg((pcg(seed >>> 0) ^ position) >>> 0);
  return (h >>> 8) / 16777216;
}

/** The score of a token a constraint rules out (the kernels' LOWEST): it is never drawn. */
const RULED_OUT = -3.402823e38;

/** Whether bit `id` of a constraint's mask (bit i of word i >> 5) allows the token. */
export function isAllowed(allowed: Uint32Array, id: number): boolean {
  return ((allowed[id >>> 5]! >>> (id & 31)) & 1) === 1;
}

/**
 * Scores after repetition penalty and temperature (greedy: penalty only); with `allowed`, the
 * tokens it rules out score lowest.
 */
export function processedScores(
  logits: ArrayLike<number>,
  seen: ReadonlySet<number>,
  p: SamplingParams,
  allowed?: Uint32Array,
): Float64Array {
  const s = Float64Array.from(logits);
  if (p.repetitionPenalty !== 1) {
    for (const id of seen) {
      s[id] = s[id]! < 0 ? s[id]! * p.repetitionPenalty : s[id]! / p.repetitionPenalty;
    }
  }
  if (p.temperature > 0) { for (let i = 0; i < s.length; i++) s[i] = s[i]! / p.temperature; }
  if (allowed) { for (let i = 0; i < s.length; i++) if (!isAllowed(allowed, i)) s[i] = RULED_OUT; }
  return s;
}

/** The probability of each token after every processor (0 for removed tokens). */
export function tokenProbabilities(
  logits: ArrayLike<number>,
  seen: ReadonlySet<number>,
  p: SamplingParams,
  allowed?: Uint32Array,
): Float64Array {
  const s = processedScores(logits, seen, p, allowed);
  const order = [...s.keys()].sort((a, b) => s[b]! - s[a]! || a - b);
  const max = s[order[0]!]!;
  const keep = new Uint8Array(s.length).fill(1);
  if (p.topK > 0 && p.topK < s.length) {
    const kth = s[order[p.topK - 1]!]!;
    for (let i = 0; i < s.length; i++) if (s[i]! < kth) keep[i] = 0; // ties with the k-th stay
  }
  if (p.topP < 1) {
    let z = 0;
    for (let i = 0; i < s.length; i++) if (keep[i]) z += Math.exp(s[i]! - max);
    // Keep a token when the mass of strictly higher tokens is below top_p.
    let above = 0;
    for (let j = 0; j < order.length;) {
      const v = s[order[j]!]!;
      let tie = 0;
      let k = j;
      for (; k < order.length && s[order[k]!] === v; k++) {
        if (keep[order[k]!]) tie += Math.exp(v - max);
      }
      if (above >= p.topP * z) { for (let t = j; t < k; t++) keep[order[t]!] = 0; }
      above += tie;
      j = k;
    }
  }
  if (p.minP > 0) {
    for (let i = 0; i < s.length; i++) if (s[i]! < max + Math.log(p.minP)) keep[i] = 0;
  }
  const probs = new Float64Array(s.length);
  let z = 0;
  for (let i = 0; i < s.length; i++) if (keep[i]) z += probs[i] = Math.exp(s[i]! - max);
  return probs.map((v) => v / z);
}

/** Samples the token at `position` on the CPU, exactly as the GPU kernel decides. */
export function sampleToken(
  logits: ArrayLike<number>,
  seen: ReadonlySet<number>,
  p: SamplingParams,
  position: number,
  allowed?: Uint32Array,
): number {
  if (p.temperature <= 0) {
    const s = processedScores(logits, seen, p, allowed);
    let best = 0;
    for (let i = 1; i < s.length; i++) if (s[i]! > s[best]!) best = i;
    return best;
  }
  const probs = tokenProbabilities(logits, seen, p, allowed);
  const u = drawUniform(p.seed, position);
  let acc = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! <= 0) continue;
    acc += probs[i]!;
    last = i;
    if (u < acc) return i;
  }
  return last;
}
