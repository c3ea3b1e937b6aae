/**
 * OpenAI's API shapes: request bodies checked field by field (a mistake is a 4xx naming the
 * field), and the response, stream-chunk and error objects its client libraries read.
 * @module
 */
import type { ChatMessage } from "../text/chat_template.ts";

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

/** What a completion request asks, whichever endpoint it came through. */
export interface CompletionRequest {
  model: string;
  /** Chat messages, or a plain prompt (text or token ids). */
  messages?: ChatMessage[];
  prompt?: string | number[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

type Json = Record<string, unknown>;

/** Parses a chat (`messages`) or completions (`prompt`) request body. */
export function parseCompletionRequest(
  body: unknown,
  kind: "chat" | "completion",
): CompletionRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "The request body must be a JSON object");
  }
  const o = body as Json;
  const model = o.model;
  if (typeof model !== "string" || model === "") {
    throw new ApiError(
      400,
      "you must provide a model parameter",
      undefined,
      "model",
      "missing_required_parameter",
    );
  }
  const request: CompletionRequest = {
    model,
    maxTokens: integer(o, "max_completion_tokens", 1) ?? integer(o, "max_tokens", 1),
    temperature: number(o, "temperature", 0, 2),
    topP: number(o, "top_p", 0, 1),
    topK: integer(o, "top_k", 0),
    seed: integer(o, "seed", -(2 ** 63), 2 ** 63),
    stop: stops(o.stop),
    stream: boolean(o, "stream") ?? false,
    includeUsage: false,
  };
  const n = integer(o, "n", 1);
  if (n !== undefined && n !== 1) {
    throw new ApiError(
      400,
      `n is ${n}: this server returns one choice (n = 1)`,
      undefined,
      "n",
      "unsupported_value",
    );
  }
  if (o.logprobs === true || (typeof o.logprobs === "number" && o.logprobs > 0)) {
    throw new ApiError(
      400,
      "logprobs are not supported",
      undefined,
      "logprobs",
      "unsupported_value",
    );
  }
  const options = o.stream_options;
  if (options !== undefined && options !== null) {
    if (typeof options !== "object") throw invalid("stream_options", "an object");
    request.includeUsage = boolean(options as Json, "include_usage") ?? false;
  }
  if (kind === "chat") request.messages = messages(o.messages);
  else request.prompt = prompt(o.prompt);
  return request;
}

function invalid(param: string, expected: string): ApiError {
  return new ApiError(
    400,
    `Invalid '${param}': expected ${expected}`,
    undefined,
    param,
    "invalid_type",
  );
}

function number(o: Json, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw invalid(key, `a number from ${min} to ${max}`);
  }
  return v;
}

function integer(o: Json, key: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  const v = number(o, key, min, max);
  if (v !== undefined && !Number.isInteger(v)) throw invalid(key, `an integer ≥ ${min}`);
  return v;
}

function boolean(o: Json, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalid(key, "true or false");
  return v;
}

function stops(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === "string")) return v;
  throw invalid("stop", "a string or a list of up to 4 strings");
}

function messages(v: unknown): ChatMessage[] {
  if (v === undefined) {
    throw new ApiError(
      400,
      "Missing required parameter: 'messages'",
      undefined,
      "messages",
      "missing_required_parameter",
    );
  }
  if (!Array.isArray(v) || v.length === 0) throw invalid("messages", "a non-empty array");
  return v.map((m, i) => {
    if (typeof m !== "object" || m === null || typeof m.role !== "string") {
      throw invalid(`messages[${i}]`, "an object with a role");
    }
    if (!ROLES.includes(m.role)) {
      throw new ApiError(
        400,
        `Invalid 'messages[${i}].role': ${JSON.stringify(m.role.slice(0, 64))}: expected one of ${
          ROLES.join(", ")
        }`,
        undefined,
        `messages[${i}].role`,
        "invalid_value",
      );
    }
    return { role: m.role, content: content(m.content, `messages[${i}].content`) };
  });
}

/** The roles chat templates know (Llama 3.1's tool results come as "ipython"). */
const ROLES = ["system", "user", "assistant", "tool", "ipython"];

/** A message's content: a string, or text parts (OpenAI's array form). */
function content(v: unknown, param: string): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "";
  if (Array.isArray(v) && v.every((p) => p?.type === "text" && typeof p.text === "string")) {
    return v.map((p) => p.text).join("");
  }
  throw invalid(param, "a string or an array of text parts");
}

function prompt(v: unknown): string | number[] {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string") return v[0];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0)) return v;
  if (v === undefined) {
    throw new ApiError(
      400,
      "Missing required parameter: 'prompt'",
      undefined,
      "prompt",
      "missing_required_parameter",
    );
  }
  throw invalid("prompt", "a string, or an array of token ids");
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
