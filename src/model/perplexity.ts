/**
 * Perplexity: the mean cross-entropy of each next token, as Hugging Face's `loss` for
 * `labels=input_ids`, over a long text with its sliding-window recipe for fixed-length models.
 * @module
 */
import { InputError } from "../errors.ts";
import { IGNORE_INDEX } from "./llama.ts";

/** One forward pass of the recipe: ids[begin, end), scoring the tokens at scoreFrom..end−1. */
export interface Window {
  begin: number;
  end: number;
  /** First scored token (absolute index, ≥ begin + 1: a window's first token has no context). */
  scoreFrom: number;
}

/**
 * Hugging Face's windows: for begin = 0, stride, 2·stride, …: end = min(begin + ctx, n); the last
 * end − prevEnd tokens of ids[begin, end) are scored (but never the window's first); stop when
 * end = n.
 */
export function perplexityWindows(n: number, ctx: number, stride: number): Window[] {
  if (!(ctx >= 2 && stride >= 1 && stride <= ctx)) {
    throw new RangeError(
      `perplexity windows need ctx ≥ 2 and 1 ≤ stride ≤ ctx (${ctx}, ${stride})`,
    );
  }
  const windows: Window[] = [];
  let prevEnd = 0;
  for (let begin = 0; prevEnd < n; begin += stride) {
    const end = Math.min(begin + ctx, n);
    windows.push({ begin, end, scoreFrom: Math.max(prevEnd, begin + 1) });
    prevEnd = end;
  }
  return windows;
}

/** What {@linkcode perplexity} needs of a model. */
export interface ScoringModel {
  /** Sum of −log p(targets[t] | ids[0..t]) over targets ≠ −100, in one fresh pass. */
  crossEntropy(ids: readonly number[], targets: readonly number[]): Promise<number>;
  readonly contextLength: number;
}

/** A perplexity measurement. */
export interface PerplexityResult {
  /** Tokens scored. */
  tokens: number;
  windows: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  nll: number;
  /** exp(nll). */
  ppl: number;
  ctx: number;
  stride: number;
  seconds: number;
  /** Tokens run through the model per second (each window's whole length). */
  tokensPerSecond: number;
}

/**
 * Perplexity of `model` on `ids` with windows of `ctx` tokens every `stride` (default: ctx =
 * the model's context, stride = ctx). `onProgress(done, total)` counts scored tokens.
 */
export async function perplexity(
  model: ScoringModel,
  ids: readonly number[],
  options: { ctx?: number; stride?: number; onProgress?: (done: number, total: number) => void } =
    {},
): Promise<PerplexityResult> {
  if (ids.length < 2) {
    throw new InputError(
      `Perplexity needs at least 2 tokens: the text has ${ids.length} (nothing to predict)`,
    );
  }
  const ctx = options.ctx ?? model.contextLength;
  const stride = options.stride ?? ctx;
  if (ctx > model.contextLength) {
    throw new RangeError(`ctx ${ctx} exceeds the model's context ${model.contextLength}`);
  }
  const windows = perplexityWindows(ids.length, ctx, stride);
  const scored = windows.reduce((n, w) => n + w.end - w.scoreFrom, 0);
  let sum = 0;
  let done = 0;
  let forwarded = 0;
  const t0 = performance.now();
  for (const w of windows) {
    const input = ids.slice(w.begin, w.end);
    // Position t predicts token begin + t + 1.
    const targets = input.map((_, t) => {
      const next = w.begin + t + 1;
      return next >= w.scoreFrom && next < w.end ? ids[next]! : IGNORE_INDEX;
    });
    const loss = await model.crossEntropy(input, targets);
    if (!Number.isFinite(loss)) {
      throw new InputError(
        `The loss of tokens ${w.begin}..${
          w.end - 1
        } is not finite: the model's logits hold a NaN or an infinity (its weights do)`,
      );
    }
    sum += loss;
    forwarded += input.length;
    done += w.end - w.scoreFrom;
    options.onProgress?.(done, scored);
  }
  const seconds = (performance.now() - t0) / 1000;
  const nll = sum / scored;
  return {
    tokens: scored,
    windows: windows.length,
    nll,
    ppl: Math.exp(nll),
    ctx,
    stride,
    seconds,
    tokensPerSecond: forwarded / Math.max(seconds, 1e-9),
  };
}
