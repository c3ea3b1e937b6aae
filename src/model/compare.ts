/** How far one set of logits is from a reference: the accuracy report of quantized weights. */
import { InputError } from "../errors.ts";

/** Agreement of `test` logits with `reference` logits, both [positions, vocab]. */
export interface LogitComparison {
  /** Share of positions whose argmax agrees. */
  top1Agreement: number;
  /** Mean over positions of KL(softmax(reference) ‖ softmax(test)), in nats. */
  meanKl: number;
  /** Largest |test − reference| over all logits. */
  maxAbsLogitError: number;
  positions: number;
}

/**
 * Compares row by row in float64. A NaN or an infinity in either set is an error (it would turn
 * the mean KL into NaN and the agreement into chance).
 */
export function compareLogits(
  reference: Float32Array,
  test: Float32Array,
  vocab: number,
): LogitComparison {
  for (const [name, logits] of [["reference", reference], ["compared", test]] as const) {
    const bad = logits.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new InputError(
        `The ${name} logits are not finite at position ${Math.floor(bad / vocab)} (token ${
          bad % vocab
        }): the weights hold a NaN or an infinity`,
      );
    }
  }
  const positions = reference.length / vocab;
  let agree = 0;
  let kl = 0;
  let maxErr = 0;
  for (let p = 0; p < positions; p++) {
    const r = reference.subarray(p * vocab, (p + 1) * vocab);
    const t = test.subarray(p * vocab, (p + 1) * vocab);
    if (argmax(r) === argmax(t)) agree++;
    const lr = logSoftmax(r);
    const lt = logSoftmax(t);
    for (let i = 0; i < vocab; i++) {
      kl += Math.exp(lr[i]!) * (lr[i]! - lt[i]!);
      maxErr = Math.max(maxErr, Math.abs(r[i]! - t[i]!));
    }
  }
  return {
    top1Agreement: agree / positions,
    meanKl: kl / positions,
    maxAbsLogitError: maxErr,
    positions,
  };
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function logSoftmax(a: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of a) max = Math.max(max, v);
  let sum = 0;
  for (const v of a) sum += Math.exp(v - max);
  const log = Math.log(sum) + max;
  return Float64Array.from(a, (v) => v - log);
}
