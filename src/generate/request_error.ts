/**
 * The error of one request field, shared by the request table and the checks it calls.
 * @module
 */
import { InputError } from "../errors.ts";

/**
 * A request field that is missing, mistyped or out of range: the field, its value and what was
 * expected. The message reads `"top_p" is 5: expected a number from 0 to 1`.
 */
export class FieldError extends InputError {
  override name = "FieldError";
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
    readonly code:
      | "invalid_type"
      | "invalid_value"
      | "missing_required_parameter"
      | "unsupported_value" = "invalid_type",
    message?: string,
  ) {
    super(
      message ??
        (value === undefined
          ? `"${field}" is missing: expected ${expected}`
          : `"${field}" is ${shortJson(value)}: expected ${expected}`),
    );
  }
}

function shortJson(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 64 ? `${text.slice(0, 60)}…` : text;
}
