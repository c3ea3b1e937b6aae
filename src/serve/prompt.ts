/**
 * A request's prompt as token ids, by the session's one convention: text certainly longer than
 * the context is refused after counting only what proves it; `/tokenize` and `/detokenize`.
 * @module
 */
import { FieldError, type GenerationRequest, parseRequest } from "../generate/request.ts";
import { promptIds } from "../generate/session.ts";
import { exceedsTokens } from "./bounded_text.ts";
import { ApiError } from "./openai.ts";
import type { ServedModel } from "./server.ts";

/**
 * The prompt's token ids, by the session's one convention. A text certainly longer than the
 * context is refused after counting only what proves it.
 */
export async function tokens(r: GenerationRequest, model: ServedModel): Promise<number[]> {
  const { session } = model;
  const text = "messages" in r.input
    ? r.input.messages.map((m) => m.content).join("\n")
    : "text" in r.input
    ? r.input.text
    : undefined;
  if (text !== undefined && session.tokenizer) {
    const count = await exceedsTokens(session.tokenizer, text, model.contextLength);
    if (count !== undefined) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${model.contextLength} tokens; the prompt has more than ${count}`,
        undefined,
        "messages" in r.input ? "messages" : "prompt",
        "context_length_exceeded",
      );
    }
  }
  if ("messages" in r.input && !session.template) {
    throw new ApiError(
      400,
      `${model.id} has no chat template: use /v1/completions`,
      undefined,
      "messages",
      "unsupported_value",
    );
  }
  return fieldErrors(() => promptIds(session, r.input, { raw: r.raw, tools: r.tools }));
}

/**
 * `POST /tokenize` (vLLM's shape): `{prompt}` or `{messages}` → the ids the model would see,
 * by the same convention as a completion, with their count and the context length.
 */
export function tokenize(body: unknown, model: ServedModel) {
  const o = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const r = fieldErrors(() =>
    parseRequest({ model: model.id, ...o }, o.messages !== undefined ? "chat" : "completion")
  );
  const tokens = fieldErrors(() =>
    promptIds(model.session, r.input, { raw: r.raw, tools: r.tools })
  );
  return { tokens, count: tokens.length, max_model_len: model.contextLength };
}

/** `POST /detokenize` (vLLM's shape): `{tokens}` → `{prompt}`, special tokens included. */
export function detokenize(body: unknown, model: ServedModel) {
  const tokens = (body as { tokens?: unknown } | null)?.tokens;
  const vocab = model.session.model.config.vocabSize;
  if (
    !Array.isArray(tokens) || !tokens.every((t) => Number.isSafeInteger(t) && t >= 0 && t < vocab)
  ) {
    throw new ApiError(
      400,
      `Invalid 'tokens': expected an array of token ids below ${vocab}`,
      undefined,
      "tokens",
    );
  }
  return { prompt: model.session.tokenizer?.decode(tokens) ?? "" };
}

/** Runs `f`; a field error is a 400 naming the field. */
export function fieldErrors<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw asApiError(e);
  }
}

/** {@linkcode fieldErrors} for an async `f`. */
export async function fieldErrorsAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw asApiError(e);
  }
}

function asApiError(e: unknown): unknown {
  if (!(e instanceof FieldError)) return e;
  const param = e.field === "prompt_ids" ? "prompt" : e.field === "body" ? null : e.field;
  return new ApiError(400, e.message, undefined, param, e.code);
}
