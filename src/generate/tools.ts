/**
 * Tool calls, as OpenAI's chat API carries them: the `tools` a model may call and `tool_choice`,
 * checked; the grammar of a call (a required or named call is constrained to it, so it always
 * parses); and a reply read back as calls in the format Llama 3.1's template teaches the model —
 * `{"name": …, "parameters": {…}}`, several separated by ";".
 * @module
 */
import type { ChatMessage } from "../text/chat_template.ts";
import type { JsonFormat } from "../text/grammar.ts";
import { FieldError } from "./request_error.ts";
import { schemaFormat } from "./response_format.ts";

/** A function the model may call: OpenAI's `{type: "function", function: {…}}`. */
export interface Tool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** The tools of a request and how they may be used (absent when tool_choice is "none"). */
export interface ToolUse {
  tools: Tool[];
  /** auto: the reply may be a call; required: it is one; a name: it calls that function. */
  choice: "auto" | "required" | { name: string };
}

/** A parsed call: the function's name and its arguments as JSON text (as OpenAI sends them). */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** `tools`: a list of functions, each named and with a JSON schema for its parameters. */
export function toolsField(v: unknown, field: string): Tool[] {
  if (!Array.isArray(v)) throw new FieldError(field, v, "a list of tools");
  return v.map((t, i) => {
    const at = `${field}[${i}]`;
    if (!isObject(t) || t.type !== "function" || !isObject(t.function)) {
      throw new FieldError(at, t, '{"type": "function", "function": {"name", "parameters"}}');
    }
    const f = t.function;
    if (typeof f.name !== "string" || !/^[\w-]{1,64}$/.test(f.name)) {
      throw new FieldError(
        `${at}.function.name`,
        f.name,
        "a name of 1 to 64 letters, digits, _ or -",
      );
    }
    if (f.description !== undefined && typeof f.description !== "string") {
      throw new FieldError(`${at}.function.description`, f.description, "a string");
    }
    if (f.parameters !== undefined) schemaFormat(f.parameters, `${at}.function.parameters`);
    return t as unknown as Tool;
  });
}

/** `tool_choice`: "none", "auto", "required", or `{"type": "function", "function": {"name"}}`. */
export function toolChoiceField(v: unknown, field: string): "none" | ToolUse["choice"] {
  if (v === "none" || v === "auto" || v === "required") return v;
  if (isObject(v) && v.type === "function" && isObject(v.function)) {
    if (typeof v.function.name === "string") return { name: v.function.name };
  }
  throw new FieldError(
    field,
    v,
    '"none", "auto", "required" or {"type": "function", "function": {"name"}}',
  );
}

/** The request's tool use, from its checked `tools` and `tool_choice` (default auto). */
export function toolUse(
  tools: Tool[] | undefined,
  choice: "none" | ToolUse["choice"] | undefined,
): ToolUse | undefined {
  if (!tools || tools.length === 0) {
    if (choice !== undefined && choice !== "none" && choice !== "auto") {
      throw new FieldError("tool_choice", choice, "tools to choose from", "invalid_value");
    }
    return undefined;
  }
  if (choice === "none") return undefined;
  if (typeof choice === "object" && !tools.some((t) => t.function.name === choice.name)) {
    throw new FieldError(
      "tool_choice.function.name",
      choice.name,
      `one of the tools: ${tools.map((t) => t.function.name).join(", ")}`,
      "invalid_value",
    );
  }
  return { tools, choice: choice ?? "auto" };
}

/**
 * An assistant message's `tool_calls` for the template: arguments parsed from OpenAI's JSON text
 * into the object Hugging Face's templates write back out.
 */
export function messageToolCalls(v: unknown, at: string): ChatMessage["tool_calls"] {
  if (!Array.isArray(v)) throw new FieldError(at, v, "a list of tool calls");
  return v.map((c, i) => {
    const here = `${at}[${i}]`;
    if (!isObject(c) || !isObject(c.function) || typeof c.function.name !== "string") {
      throw new FieldError(
        here,
        c,
        '{"id", "type": "function", "function": {"name", "arguments"}}',
      );
    }
    let args = c.function.arguments;
    if (typeof args === "string") {
      try {
        args = JSON.parse(args);
      } catch {
        throw new FieldError(`${here}.function.arguments`, args, "a JSON object as text");
      }
    }
    return {
      ...(typeof c.id === "string" ? { id: c.id } : {}),
      type: "function" as const,
      function: { name: c.function.name, arguments: args ?? {} },
    };
  });
}

/** The JSON of one call to one of `use`'s tools (the named one when a name is chosen). */
export function toolCallFormat(use: ToolUse): JsonFormat {
  const tools = typeof use.choice === "object"
    ? use.tools.filter((t) => t.function.name === (use.choice as { name: string }).name)
    : use.tools;
  const calls = tools.map((t) => ({
    type: "object",
    properties: {
      name: { const: t.function.name },
      parameters: t.function.parameters ?? { type: "object" },
    },
    required: ["name", "parameters"],
    additionalProperties: false,
  }));
  return { type: "json_schema", schema: calls.length === 1 ? calls[0] : { anyOf: calls } };
}

/**
 * A reply read as calls: JSON objects `{"name", "parameters" (or "arguments")}` naming the
 * request's tools, alone or separated by ";", optionally after `<|python_tag|>`. Anything else
 * is not a call (undefined): the reply is content.
 */
export function parseToolCalls(text: string, use: ToolUse): ToolCall[] | undefined {
  const body = text.trim().replace(/^<\|python_tag\|>/, "").trim();
  if (!body.startsWith("{")) return undefined;
  const names = new Set(use.tools.map((t) => t.function.name));
  const calls: ToolCall[] = [];
  for (const part of splitCalls(body)) {
    let call: unknown;
    try {
      call = JSON.parse(part);
    } catch {
      return undefined;
    }
    if (!isObject(call) || typeof call.name !== "string" || !names.has(call.name)) return undefined;
    const args = call.parameters ?? call.arguments ?? {};
    if (!isObject(args)) return undefined;
    calls.push({
      id: `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
      type: "function",
      function: { name: call.name, arguments: JSON.stringify(args) },
    });
  }
  return calls.length ? calls : undefined;
}

/** The JSON objects of `text` separated by ";" (a ";" inside a string does not split). */
function splitCalls(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === ";" && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p !== "");
}
