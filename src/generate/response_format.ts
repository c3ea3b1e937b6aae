/**
 * `response_format`, checked: text, any JSON object, or JSON valid against a schema whose every
 * keyword the grammar engine enforces. A keyword it would ignore (or cannot take) is refused by
 * name, so a reply never merely looks valid.
 * @module
 */
import type { JsonFormat } from "../text/grammar.ts";
import { FieldError } from "./request_error.ts";

/** Keywords enforced (each tested against XGrammar), and annotations that constrain nothing. */
const KEYWORDS = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "patternProperties",
  "maxProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "enum",
  "const",
  "anyOf",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "$ref",
  "$defs",
  "definitions",
  // annotations
  "title",
  "description",
  "default",
  "examples",
  "$schema",
  "$id",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks a schema's keywords, recursively; `at` names the schema in errors. */
function checkSchema(s: unknown, at: string): void {
  if (typeof s === "boolean") return;
  if (!isObject(s)) throw new FieldError(at, s, "a JSON schema (an object)");
  for (const [key, v] of Object.entries(s)) {
    const here = `${at}.${key}`;
    if (!KEYWORDS.has(key)) {
      throw new FieldError(
        here,
        v,
        "a keyword structured output enforces",
        "unsupported_value",
        `"${here}": the schema keyword "${key}" is not supported (supported: ${
          [...KEYWORDS].slice(0, 21).join(", ")
        })`,
      );
    }
    if (key === "type") {
      const types = Array.isArray(v) ? v : [v];
      if (types.length === 0 || !types.every((t) => TYPES.includes(t as string))) {
        throw new FieldError(here, v, `one of ${TYPES.join(", ")}, or a list of them`);
      }
    } else if (["properties", "patternProperties", "$defs", "definitions"].includes(key)) {
      if (!isObject(v)) throw new FieldError(here, v, "an object of schemas");
      for (const [name, sub] of Object.entries(v)) checkSchema(sub, `${here}.${name}`);
    } else if (key === "anyOf" || key === "prefixItems") {
      if (!Array.isArray(v) || v.length === 0) throw new FieldError(here, v, "a list of schemas");
      v.forEach((sub, i) => checkSchema(sub, `${here}[${i}]`));
    } else if (key === "items" || key === "additionalProperties") checkSchema(v, here);
    else if (key === "required" || key === "enum") {
      if (!Array.isArray(v)) throw new FieldError(here, v, "a list");
    } else if (key === "pattern" || key === "$ref") {
      if (typeof v !== "string") throw new FieldError(here, v, "a string");
    }
  }
}

/** A request's `response_format`: undefined for text. */
export function responseFormat(v: unknown, field: string): JsonFormat | undefined {
  if (!isObject(v)) {
    throw new FieldError(field, v, 'an object {"type": "text" | "json_object" | "json_schema"}');
  }
  if (v.type === "text") return undefined;
  if (v.type === "json_object") return { type: "json_object" };
  if (v.type !== "json_schema") {
    throw new FieldError(
      `${field}.type`,
      v.type,
      '"text", "json_object" or "json_schema"',
      "invalid_value",
    );
  }
  const spec = v.json_schema;
  if (!isObject(spec)) {
    throw new FieldError(`${field}.json_schema`, spec, "an object {name, schema, strict}");
  }
  if (typeof spec.name !== "string" || !/^[\w-]{1,64}$/.test(spec.name)) {
    throw new FieldError(
      `${field}.json_schema.name`,
      spec.name,
      "a name of 1 to 64 letters, digits, _ or -",
    );
  }
  return schemaFormat(spec.schema ?? {}, `${field}.json_schema.schema`);
}

/** JSON valid against `schema`, checked; `at` names the schema in errors. */
export function schemaFormat(schema: unknown, at: string): JsonFormat {
  checkSchema(schema, at);
  return { type: "json_schema", schema };
}
