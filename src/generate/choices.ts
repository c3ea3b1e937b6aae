/**
 * A request's `n` choices on the one engine: choice i draws with the request's seed + i (its own
 * random stream, the same whether it runs alone or among others), and the first's prompt is
 * copied, not computed, for the rest. Serve and batch submit every request this way.
 * @module
 */
import { InputError } from "../errors.ts";
import { compileJson, type JsonMatcher } from "../text/grammar.ts";
import type { Engine, EngineResult } from "./engine.ts";
import { FieldError, type GenerationRequest } from "./request.ts";
import { toolCallFormat } from "./tools.ts";
import type { SamplingParams } from "./sampling.ts";
import type { Session } from "./session.ts";
import type { TokenLogprobs } from "../model/logprobs.ts";

/**
 * One grammar matcher per choice when the request's reply must be JSON (its `format`), compiled
 * for the session's vocabulary and ended by its terminators; undefined otherwise.
 */
export async function constraintsFor(
  session: Session,
  r: GenerationRequest,
): Promise<JsonMatcher[] | undefined> {
  // A required (or named) call is constrained to the call's JSON, so it always parses.
  const format = r.format ??
    (r.tools && r.tools.choice !== "auto" ? toolCallFormat(r.tools) : undefined);
  if (!format) return undefined;
  const refuse = (why: string) =>
    new FieldError(
      r.format ? "response_format" : "tools",
      format,
      "",
      "invalid_value",
      `"${r.format ? "response_format" : "tools"}": ${why}`,
    );
  if (!session.tokenizer) throw refuse("structured output needs the model's tokenizer.json");
  let grammar;
  try {
    grammar = await compileJson(
      session.tokenizer,
      session.model.config.vocabSize,
      [...session.terminators],
      format,
    );
  } catch (e) {
    if (e instanceof InputError) throw refuse(e.message);
    throw e;
  }
  return await Promise.all(Array.from({ length: r.n }, () => grammar.matcher()));
}

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
    /** Choice i's reply follows constraints[i] (from {@linkcode constraintsFor}); each is freed when its choice ends. */
    constraints?: readonly JsonMatcher[];
  } = {},
): Promise<EngineResult>[] {
  const { sampling, maxTokens, stop } = settings;
  const { onText, signal, constraints } = options;
  const cancel = new AbortController();
  const both = signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal;
  const choices: Promise<EngineResult>[] = [];
  try {
    for (let i = 0; i < r.n; i++) {
      const constraint = constraints?.[i];
      const choice = engine.submit({
        promptIds,
        sampling: { ...sampling, seed: (sampling.seed + i) >>> 0 },
        maxTokens,
        stop,
        ...(r.logprobs !== undefined ? { logprobs: r.logprobs } : {}),
        echo: r.echo,
        onText: onText && ((t, lp) => onText(i, t, lp)),
        signal: both,
        ...(constraint ? { constraint } : {}),
      });
      choices.push(constraint ? choice.finally(() => constraint.dispose()) : choice);
    }
  } catch (e) {
    cancel.abort();
    for (const c of choices) c.catch(() => {});
    for (const c of constraints?.slice(choices.length) ?? []) c.dispose();
    throw e;
  }
  return choices;
}
