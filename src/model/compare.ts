/** How far one set of logits is from a reference: the accuracy report of quantized weights. */
import { InputError } from "../errors.ts";
import { openGpu } from "../gpu/device.ts";
import type { PackFormat } from "../gpu/buffers.ts";
import { IGNORE_INDEX } from "./llama.ts";
import { loadModel } from "./load.ts";

/** Agreement of `test` logits with `reference` logits, both [positions, vocab]. */
export interface LogitComparison {
  /** Share of positions whose argmax agrees. */
  top1Agreement: number;
  /** Mean over positions of KL(softmax(reference) ‖ softmax(test)), in nats. */
  meanKl: number;
  /** Largest |test − reference| over all logits. */
  maxAbsLogitError: number;
  positions: number;
  /**
   * With `targets`: mean −log p(target) over the positions that have one, under each set
   * (perplexity = exp of it).
   */
  nll?: { reference: number; test: number };
}

/**
 * Compares row by row in float64. A NaN or an infinity in either set is an error (it would turn
 * the mean KL into NaN and the agreement into chance). `targets[p]` is the token position p
 * predicts (−100 or absent: none), for the mean NLL of each set.
 */
export function compareLogits(
  reference: Float32Array,
  test: Float32Array,
  vocab: number,
  targets?: readonly number[],
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
  const nll = { reference: 0, test: 0, count: 0 };
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
    const target = targets?.[p] ?? IGNORE_INDEX;
    if (target !== IGNORE_INDEX) {
      nll.reference -= lr[target]!;
      nll.test -= lt[target]!;
      nll.count++;
    }
  }
  return {
    top1Agreement: agree / positions,
    meanKl: kl / positions,
    maxAbsLogitError: maxErr,
    positions,
    ...(targets && nll.count > 0
      ? { nll: { reference: nll.reference / nll.count, test: nll.test / nll.count } }
      : {}),
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

/** {@linkcode LogitComparison} plus the perplexity of the tokens under both weights. */
export interface WeightComparison extends LogitComparison {
  /** exp(mean cross-entropy of each next token) with the packed weights. */
  ppl: number;
  /** The same with the stored weights. */
  pplReference: number;
}

/**
 * Runs `spec` as stored and packed as `format` on `ids` (one pass from position 0 each, one
 * model on the GPU at a time) and compares their logits and the perplexities of `ids` under both.
 */
export async function compareWeights(
  spec: string,
  format: PackFormat,
  ids: readonly number[],
  adapter?: string,
): Promise<WeightComparison> {
  const gpu = await openGpu();
  try {
    const logits = async (weights: PackFormat | undefined) => {
      const loaded = await loadModel(spec, {
        gpu,
        contextLength: ids.length,
        weights,
        ...(adapter !== undefined ? { adapter } : {}),
      });
      try {
        return await loaded.model.logits(ids, 0);
      } finally {
        loaded.close();
      }
    };
    const [stored, packed] = [await logits(undefined), await logits(format)];
    const targets = ids.map((_, t) => ids[t + 1] ?? IGNORE_INDEX);
    const vocab = stored.length / ids.length;
    const r = compareLogits(stored, packed, vocab, targets);
    // A single token predicts nothing: both perplexities are then 1.
    const nll = r.nll ?? { reference: 0, test: 0 };
    return { ...r, ppl: Math.exp(nll.test), pplReference: Math.exp(nll.reference) };
  } finally {
    gpu.device.destroy();
  }
}
