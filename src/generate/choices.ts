/**
 * A request's `n` choices on the one engine: choice i draws with the request's seed + i (its own
 * random stream, the same whether it runs alone or among others), and the first's prompt is
 * copied, not computed, for the rest. Serve and batch submit every request this way.
 * @module
 */
import type { Engine, EngineResult } from "./engine.ts";
import type { GenerationRequest } from "./request.ts";
import type { SamplingParams } from "./sampling.ts";
import type { TokenLogprobs } from "../model/logprobs.ts";

/** What a request leaves to its front end: merged sampling, the token limit, stop strings. */
export interface ChoiceSettings {
  sampling: SamplingParams;
  maxTokens: number;
  stop: readonly string[];
}

/**
 * Submits the choices; if one cannot be queued (a full queue), those already queued are
 * cancelled and the error is thrown. `onText(i, text, logprobs)` streams choice i.
 */
export function submitChoices(
  engine: Engine,
  promptIds: readonly number[],
  r: GenerationRequest,
  settings: ChoiceSettings,
  options: {
    onText?: (choice: number, text: string, logprobs?: readonly TokenLogprobs[]) => void;
    signal?: AbortSignal;
  } = {},
): Promise<EngineResult>[] {
  const { sampling, maxTokens, stop } = settings;
  const { onText, signal } = options;
  const cancel = new AbortController();
  const both = signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal;
  const choices: Promise<EngineResult>[] = [];
  try {
    for (let i = 0; i < r.n; i++) {
      choices.push(engine.submit({
        promptIds,
        sampling: { ...sampling, seed: (sampling.seed + i) >>> 0 },
        maxTokens,
        stop,
        ...(r.logprobs !== undefined ? { logprobs: r.logprobs } : {}),
        echo: r.echo,
        onText: onText && ((t, lp) => onText(i, t, lp)),
        signal: both,
      }));
    }
  } catch (e) {
    cancel.abort();
    for (const c of choices) c.catch(() => {});
    throw e;
  }
  return choices;
}
