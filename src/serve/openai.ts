/**
 * OpenAI's API shapes: the error object, finish reasons and usage its client libraries read
 * (requests are checked by the one request table, `generate/request.ts`).
 * @module
 */

import type { TokenLogprobs } from "../generate/engine.ts";
import type { GenerationRequest } from "../generate/request.ts";
import { parseToolCalls, type ToolUse } from "../generate/tools.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import {
  chatLogprobs,
  completionLogprobs,
  type Scored,
  type TokenView,
  tokenView,
} from "./logprobs.ts";

/** An API error: HTTP status and OpenAI's error object. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  /** `{"error": {message, type, param, code}}`. */
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/**
 * OpenAI's finish_reason for ours: a full context counts as "length"; a reply the server cut
 * short while stopping is "interrupted".
 */
export function finishReason(reason: string): "stop" | "length" | "interrupted" {
  return reason === "stop" ? "stop" : reason === "interrupted" ? "interrupted" : "length";
}

/** The usage object (with the cached prompt tokens). */
export function usage(prompt: number, completion: number, cached: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** The id, creation time and model every object of one completion carries. */
export function completionBase(kind: "chat" | "completion", model: string) {
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${crypto.randomUUID().replaceAll("-", "")}`;
  return { id, created: Math.floor(Date.now() / 1000), model };
}

/** What one choice's reply gives a response. */
export interface ChoiceResult {
  text: string;
  tokens: readonly number[];
  finishReason: string;
  promptTokens: number;
  cachedTokens: number;
  logprobs?: readonly TokenLogprobs[];
  promptLogprobs?: readonly TokenLogprobs[];
}

/** How a response shows log-probabilities and an echoed prompt, when the request asked. */
export interface Shown {
  /** Tokens' text and bytes, for log-probabilities. */
  logprobs?: TokenView;
  /** The prompt leading a completion's text (and, its first token unscored, its logprobs). */
  echo?: { text: string; ids: readonly number[] };
  /** The tools a chat reply may call: a reply that parses as calls is sent as `tool_calls`. */
  tools?: ToolUse;
}

/** What a response to `r` shows: log-probabilities and the echoed prompt, when it asks for them. */
export function shownFor(
  r: GenerationRequest,
  promptIds: readonly number[],
  tokenizer: TextTokenizer,
): Shown {
  return {
    ...(r.tools ? { tools: r.tools } : {}),
    ...(r.logprobs !== undefined ? { logprobs: tokenView(tokenizer) } : {}),
    ...(r.echo
      ? {
        echo: {
          text: "text" in r.input ? r.input.text : tokenizer.decode(promptIds),
          ids: promptIds,
        },
      }
      : {}),
  };
}

/** A whole (not streamed) chat.completion or text_completion object, a choice per result. */
export function completionObject(
  kind: "chat" | "completion",
  base: { id: string; created: number; model: string },
  results: readonly ChoiceResult[],
  shown: Shown = {},
) {
  const { logprobs: view, echo } = shown;
  const choices = results.map((r, index) => {
    const reason = finishReason(r.finishReason);
    if (kind === "chat") {
      const calls = shown.tools && parseToolCalls(r.text, shown.tools);
      return {
        index,
        message: calls
          ? { role: "assistant", content: null, tool_calls: calls, refusal: null }
          : { role: "assistant", content: r.text, refusal: null },
        logprobs: view ? chatLogprobs(r.logprobs ?? [], view) : null,
        finish_reason: calls ? "tool_calls" : reason,
      };
    }
    const scored: Scored[] = [
      ...echo ? [{ id: echo.ids[0]!, logprob: null, top: null }, ...r.promptLogprobs ?? []] : [],
      ...r.logprobs ?? [],
    ];
    return {
      index,
      text: (echo?.text ?? "") + r.text,
      logprobs: view ? completionLogprobs(scored, view) : null,
      finish_reason: reason,
    };
  });
  return {
    ...base,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    choices,
    usage: usageOf(results),
  };
}

/** The usage of a request's choices: the prompt once, every choice's tokens. */
export function usageOf(results: readonly ChoiceResult[]) {
  const first = results[0]!;
  return usage(
    first.promptTokens,
    results.reduce((n, r) => n + r.tokens.length, 0),
    first.cachedTokens,
  );
}

/** An unexpected failure as a 500 in OpenAI's error shape. */
export function internal(e: unknown): ApiError {
  return new ApiError(500, `Internal error: ${e instanceof Error ? e.message : e}`, "server_error");
}
