/**
 * The checkers of the request table's values: numbers in a range, messages, prompts, stop
 * strings, and fields we refuse unless at their defaults. Each returns what the value means or
 * throws a {@linkcode FieldError} naming the field.
 * @module
 */
import type { ChatMessage } from "../text/chat_template.ts";
import { FieldError } from "./request_error.ts";
import { messageToolCalls } from "./tools.ts";

/** A field's checker: the value (never undefined or null) → what it means, or a FieldError. */
export type Check = (v: unknown, field: string) => unknown;

export const number = (min: number, max: number, integer = false): Check => (v, field) => {
  if (
    typeof v !== "number" || !Number.isFinite(v) || v < min || v > max ||
    (integer && !Number.isInteger(v))
  ) {
    const range = max >= Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new FieldError(field, v, `${integer ? "an integer" : "a number"} ${range}`);
  }
  return v;
};
export const boolean: Check = (v, field) => {
  if (typeof v !== "boolean") throw new FieldError(field, v, "true or false");
  return v;
};
export const string: Check = (v, field) => {
  if (typeof v !== "string") throw new FieldError(field, v, "a string");
  return v;
};

/** The roles chat templates know (Llama 3.1's tool results come as "ipython"). */
export const ROLES = ["system", "user", "assistant", "tool", "ipython"];

/** A message's content: a string, or OpenAI's array of text parts. */
function content(v: unknown, field: string): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "";
  if (Array.isArray(v) && v.every((p) => p?.type === "text" && typeof p.text === "string")) {
    return v.map((p) => p.text).join("");
  }
  throw new FieldError(field, v, "a string or an array of text parts");
}

export const messages: Check = (v, field) => {
  if (!Array.isArray(v) || v.length === 0) throw new FieldError(field, v, "a non-empty array");
  return v.map((m, i): ChatMessage => {
    const at = `${field}[${i}]`;
    if (typeof m !== "object" || m === null || typeof m.role !== "string") {
      throw new FieldError(at, m, "an object with a role");
    }
    if (!ROLES.includes(m.role)) {
      throw new FieldError(`${at}.role`, m.role, `one of ${ROLES.join(", ")}`, "invalid_value");
    }
    return {
      role: m.role,
      content: content(m.content, `${at}.content`),
      ...(m.role === "assistant" && m.tool_calls !== undefined && m.tool_calls !== null
        ? { tool_calls: messageToolCalls(m.tool_calls, `${at}.tool_calls`) }
        : {}),
      ...(typeof m.tool_call_id === "string" ? { tool_call_id: m.tool_call_id } : {}),
    };
  });
};

export const prompt: Check = (v, field) => {
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string") v = v[0];
  if (typeof v === "string") {
    if (v === "") throw new FieldError(field, v, "a non-empty prompt", "invalid_value");
    return { text: v };
  }
  return { ids: tokenIds(v, field) };
};

export function tokenIds(v: unknown, field: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new FieldError(field, v, "a string, or a non-empty array of token ids");
  }
  return v;
}

export const stops: Check = (v, field) => {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 16 || !list.every((s) => typeof s === "string")) {
    throw new FieldError(field, v, "a string or a list of up to 16 strings");
  }
  return list;
};

/**
 * A field we do not support yet: refused with a 400 naming it, unless its value asks for nothing
 * (OpenAI's default), so no field is silently ignored.
 */
export function unsupported(isDefault: (v: unknown) => boolean, why: string): Check {
  return (v, field) => {
    if (!isDefault(v)) throw new FieldError(field, v, `its default: ${why}`, "unsupported_value");
  };
}
