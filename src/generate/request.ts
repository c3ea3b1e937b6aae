/**
 * The one request: OpenAI's fields for `/v1/chat/completions` and `/v1/completions` plus our
 * extensions (`top_k`, `min_p`, `repetition_penalty`, `prompt_ids`), checked once, from one
 * table of names, types and ranges, whichever front end it came through (a serve body, a batch
 * line, run's flags, chat's /set). A mistake is a {@linkcode FieldError} naming the field; each
 * front end shows it its own way.
 * @module
 */
import { FieldError } from "./request_error.ts";
import { responseFormat } from "./response_format.ts";
import { type Tool, toolChoiceField, toolsField, type ToolUse, toolUse } from "./tools.ts";
import type { JsonFormat } from "../text/grammar.ts";

export { FieldError } from "./request_error.ts";
export { ROLES } from "./request_values.ts";
import {
  boolean,
  type Check,
  messages,
  number,
  prompt,
  stops,
  string,
  tokenIds,
  unsupported,
} from "./request_values.ts";
import type { ChatMessage } from "../text/chat_template.ts";
import type { SamplingParams } from "./sampling.ts";

/** What a prompt is: chat messages (through the template), plain text, or token ids. */
export type PromptInput =
  | { messages: ChatMessage[] }
  | { text: string }
  | { ids: number[] };

/** A checked request. Settings it does not give come from the session's defaults. */
export interface GenerationRequest {
  model?: string;
  input: PromptInput;
  maxTokens?: number;
  /** The sampling settings this request sets (the rest are the session's). */
  sampling: Partial<SamplingParams>;
  stop?: string[];
  stream: boolean;
  includeUsage: boolean;
  /** Choices to generate from the prompt, each with its own seed (the request's + its index). */
  n: number;
  /** The prompt is plain text, never put in a chat template (a completion's, as OpenAI's). */
  raw: boolean;
  /** Report each token's log-probability with this many alternatives; undefined: none. */
  logprobs?: number;
  /** Score the prompt's tokens too (a completion's `echo`); its text leads the reply's. */
  echo: boolean;
  /** The reply is JSON: any object, or valid against a schema (`response_format`). */
  format?: JsonFormat;
  /** Functions the reply may (or must) call; absent with no tools or tool_choice "none". */
  tools?: ToolUse;
}

/** The most choices one request may ask for (`n`). */
export const MAX_CHOICES = 8;
/** The most alternatives per token: chat's `top_logprobs`, completions' `logprobs`. */
export const MAX_TOP_LOGPROBS = { chat: 20, completion: 5 };

type Json = Record<string, unknown>;

/** Every field a request may carry, and what it must be. */
const FIELDS: Record<string, Check> = {
  model: string,
  messages,
  prompt,
  prompt_ids: (v, field) => ({ ids: tokenIds(v, field) }),
  max_tokens: number(0, Number.MAX_SAFE_INTEGER, true),
  max_completion_tokens: number(0, Number.MAX_SAFE_INTEGER, true),
  temperature: number(0, 100),
  top_p: number(0, 1),
  top_k: number(0, Number.MAX_SAFE_INTEGER, true),
  min_p: number(0, 1),
  repetition_penalty: number(0.01, 100),
  // OpenAI takes any 64-bit seed; the draws use its low 32 bits.
  seed: (v, field) =>
    Number(BigInt.asUintN(32, BigInt(number(-(2 ** 63), 2 ** 64, true)(v, field) as number))),
  stop: stops,
  stream: boolean,
  stream_options: (v, field) => {
    if (typeof v !== "object" || Array.isArray(v)) throw new FieldError(field, v, "an object");
    const include = (v as Json).include_usage;
    return include === undefined || include === null
      ? false
      : boolean(include, `${field}.include_usage`);
  },
  n: number(1, MAX_CHOICES, true),
  // Chat's is true/false, a completion's a count: checked by kind in logprobsOf.
  logprobs: (v, field) => typeof v === "boolean" ? v : number(0, 20, true)(v, field),
  top_logprobs: number(0, MAX_TOP_LOGPROBS.chat, true),
  echo: boolean,
  best_of: unsupported((v) => v === 1, "best_of is 1 here"),
  suffix: unsupported((v) => v === "", "suffix (insertion) is not supported"),
  frequency_penalty: unsupported((v) => v === 0, "frequency_penalty is not supported yet"),
  presence_penalty: unsupported((v) => v === 0, "presence_penalty is not supported yet"),
  logit_bias: unsupported(
    (v) => typeof v === "object" && Object.keys(v as object).length === 0,
    "logit_bias is not supported yet",
  ),
  tools: toolsField,
  tool_choice: toolChoiceField,
  parallel_tool_calls: boolean,
  functions: unsupported(() => false, "functions are not supported"),
  function_call: unsupported((v) => v === "none", "functions are not supported"),
  response_format: responseFormat,
  audio: unsupported(() => false, "audio is not supported"),
  modalities: unsupported(
    (v) => Array.isArray(v) && v.every((m) => m === "text"),
    "only the text modality is supported",
  ),
  prediction: unsupported(() => false, "predicted outputs are not supported"),
  web_search_options: unsupported(() => false, "web search is not supported"),
  // OpenAI's fields with no effect on one choice from one local model.
  user: string,
  metadata: (v, field) => {
    if (typeof v !== "object" || Array.isArray(v)) throw new FieldError(field, v, "an object");
  },
  store: boolean,
  service_tier: string,
  reasoning_effort: string,
};

/** The sampling field each request field sets. */
const SAMPLING: Record<string, keyof SamplingParams> = {
  temperature: "temperature",
  top_p: "topP",
  top_k: "topK",
  min_p: "minP",
  repetition_penalty: "repetitionPenalty",
  seed: "seed",
};

/** The names of the request fields (for messages that list them). */
export const FIELD_NAMES: readonly string[] = Object.keys(FIELDS);

/**
 * Checks a request body. `kind` says where the prompt comes from: `messages` for chat,
 * `prompt` for completions; a `line` (a batch file's short form) takes exactly one of `prompt`,
 * `messages`, `prompt_ids`. Fields not in the table are returned in `unknown` (serve ignores
 * them as OpenAI does; batch warns).
 */
export function parseRequest(
  body: unknown,
  kind: "chat" | "completion" | "line",
): GenerationRequest & { unknown: string[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new FieldError("body", body, "a JSON object");
  }
  const o = body as Json;
  const v: Json = {};
  for (const [key, value] of Object.entries(o)) {
    if (value === undefined || value === null || !(key in FIELDS)) continue;
    v[key] = FIELDS[key]!(value, key);
  }
  const inputs = kind === "chat"
    ? ["messages"]
    : kind === "completion"
    ? ["prompt"]
    : ["prompt", "messages", "prompt_ids"].filter((k) => v[k] !== undefined);
  if (kind === "line" && inputs.length !== 1) {
    const expected = `exactly one of "prompt", "messages", "prompt_ids"`;
    throw new FieldError(
      inputs[0] ?? "prompt",
      undefined,
      expected,
      "missing_required_parameter",
      inputs.length
        ? `${inputs.map((k) => `"${k}"`).join(" and ")} are both given: expected ${expected}`
        : undefined,
    );
  }
  const field = inputs[0]!;
  if (v[field] === undefined) {
    throw new FieldError(field, undefined, "a value", "missing_required_parameter");
  }
  const echo = (v.echo as boolean | undefined) ?? false;
  if (echo && v.stream) {
    throw new FieldError(
      "echo",
      true,
      "false when streaming (echo: true answers whole)",
      "unsupported_value",
    );
  }
  const maxTokens = (v.max_completion_tokens ?? v.max_tokens) as number | undefined;
  if (maxTokens === 0 && !echo) {
    const name = v.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
    throw new FieldError(name, 0, "an integer ≥ 1 (0 only with echo)", "invalid_value");
  }
  const sampling: Partial<Record<keyof SamplingParams, number>> = {};
  for (const [key, name] of Object.entries(SAMPLING)) {
    if (v[key] !== undefined) sampling[name] = v[key] as number;
  }
  return {
    ...(v.model !== undefined ? { model: v.model as string } : {}),
    input: field === "messages"
      ? { messages: v.messages as ChatMessage[] }
      : v[field] as PromptInput,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    sampling,
    ...(v.stop !== undefined ? { stop: v.stop as string[] } : {}),
    stream: (v.stream as boolean | undefined) ?? false,
    includeUsage: (v.stream_options as boolean | undefined) ?? false,
    n: (v.n as number | undefined) ?? 1,
    raw: kind === "completion",
    ...logprobsOf(v, field === "messages" ? "chat" : "completion", echo),
    ...(v.response_format !== undefined ? { format: v.response_format as JsonFormat } : {}),
    ...toolsOf(v, field === "messages"),
    unknown: Object.keys(o).filter((k) => !(k in FIELDS)),
  };
}

/** The request's tool use: chat only, and never together with a response_format. */
function toolsOf(v: Json, chat: boolean): { tools?: ToolUse } {
  const use = toolUse(
    v.tools as Tool[] | undefined,
    v.tool_choice as ToolUse["choice"] | undefined,
  );
  if (!use) return {};
  if (!chat) {
    throw new FieldError(
      "tools",
      v.tools,
      "none: tools are for /v1/chat/completions",
      "unsupported_value",
    );
  }
  if (v.response_format !== undefined && use.choice !== "auto") {
    throw new FieldError(
      "response_format",
      v.response_format,
      "none when a tool call is required (the call has its own format)",
      "unsupported_value",
    );
  }
  return { tools: use };
}

/**
 * The log-probability fields by OpenAI's two dialects: chat's `logprobs: true` with
 * `top_logprobs: N`; a completion's `logprobs: N` and `echo` (the prompt's tokens scored too).
 */
function logprobsOf(v: Json, kind: "chat" | "completion", echo: boolean) {
  const { logprobs, top_logprobs: top } = v;
  if (kind === "chat") {
    if (logprobs !== undefined && typeof logprobs !== "boolean") {
      throw new FieldError(
        "logprobs",
        logprobs,
        "true or false (top_logprobs says how many alternatives)",
      );
    }
    if (top !== undefined && logprobs !== true) {
      throw new FieldError("top_logprobs", top, "to come with logprobs: true", "invalid_value");
    }
    if (echo) {
      throw new FieldError("echo", true, "false: echo is for /v1/completions", "unsupported_value");
    }
    return { echo, ...(logprobs ? { logprobs: (top as number | undefined) ?? 0 } : {}) };
  }
  if (top !== undefined) {
    throw new FieldError(
      "top_logprobs",
      top,
      "unset: a completion asks with logprobs: N",
      "unsupported_value",
    );
  }
  if (logprobs === false) return { echo }; // as if unset
  if (
    logprobs !== undefined &&
    (typeof logprobs !== "number" || logprobs > MAX_TOP_LOGPROBS.completion)
  ) {
    throw new FieldError(
      "logprobs",
      logprobs,
      `an integer from 0 to ${MAX_TOP_LOGPROBS.completion}`,
    );
  }
  return { echo, ...(logprobs !== undefined ? { logprobs: logprobs as number } : {}) };
}

/**
 * A request's settings from command-line values (`--temperature 0.7` is the field
 * `temperature`): the same table checks them; the value is read as a number where the field is one.
 */
export function parseSettings(
  values: Record<string, string | string[] | undefined>,
): GenerationRequest["sampling"] & {
  maxTokens?: number;
  stop?: string[];
} {
  const body: Json = {};
  for (const [flag, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const field = flag.replaceAll("-", "_");
    if (!(field in FIELDS)) continue;
    body[field] = typeof value === "string" && field !== "stop" && value.trim() !== "" &&
        !Number.isNaN(Number(value))
      ? Number(value)
      : value;
  }
  const r = parseRequest({ ...body, prompt: "-" }, "completion");
  return {
    ...r.sampling,
    ...(r.maxTokens !== undefined ? { maxTokens: r.maxTokens } : {}),
    ...(r.stop !== undefined ? { stop: r.stop } : {}),
  };
}

/** Sampling settings: the defaults with what a request sets (the one merge). */
export function mergeSampling(
  defaults: SamplingParams,
  set: Partial<SamplingParams>,
): SamplingParams {
  return { ...defaults, ...set };
}
