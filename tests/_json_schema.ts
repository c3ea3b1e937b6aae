/**
 * A JSON-schema validator for the keywords structured output supports (tests only): the check
 * a reply must pass, written from the JSON Schema specification, independent of XGrammar.
 */
type Schema = Record<string, unknown> | boolean;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The first violation of `schema` by `v` (a path and why), or undefined when it is valid. */
export function violation(
  v: unknown,
  schema: Schema,
  root: Schema = schema,
  at = "$",
): string | undefined {
  if (schema === true) return undefined;
  if (schema === false) return `${at}: nothing is allowed`;
  const s = schema;
  if (typeof s.$ref === "string") {
    const target = s.$ref.replace(/^#\//, "").split("/").reduce(
      (o: unknown, k) => (o as Record<string, unknown>)[k],
      root,
    );
    const why = violation(v, target as Schema, root, at);
    if (why) return why;
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const t = typeOf(v);
    if (!types.some((x) => x === t || (x === "number" && t === "integer"))) {
      return `${at}: ${t}, expected ${types.join(" | ")}`;
    }
  }
  if (s.enum && !(s.enum as unknown[]).some((e) => equal(e, v))) return `${at}: not in enum`;
  if ("const" in s && !equal(s.const, v)) return `${at}: not the const`;
  if (s.anyOf && !(s.anyOf as Schema[]).some((sub) => !violation(v, sub, root, at))) {
    return `${at}: matches no anyOf branch`;
  }
  if (typeof v === "string") {
    const n = [...v].length;
    if (typeof s.minLength === "number" && n < s.minLength) {
      return `${at}: shorter than ${s.minLength}`;
    }
    if (typeof s.maxLength === "number" && n > s.maxLength) {
      return `${at}: longer than ${s.maxLength}`;
    }
    if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(v)) {
      return `${at}: does not match ${s.pattern}`;
    }
  }
  if (typeof v === "number") {
    if (typeof s.minimum === "number" && v < s.minimum) return `${at}: below ${s.minimum}`;
    if (typeof s.maximum === "number" && v > s.maximum) return `${at}: above ${s.maximum}`;
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === "number" && v.length < s.minItems) {
      return `${at}: fewer than ${s.minItems} items`;
    }
    if (typeof s.maxItems === "number" && v.length > s.maxItems) {
      return `${at}: more than ${s.maxItems} items`;
    }
    const prefix = (s.prefixItems ?? []) as Schema[];
    for (const [i, item] of v.entries()) {
      const sub = i < prefix.length ? prefix[i]! : s.items as Schema | undefined;
      const why = sub === undefined ? undefined : violation(item, sub, root, `${at}[${i}]`);
      if (why) return why;
    }
  }
  if (typeOf(v) === "object") {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) return `${at}: no "${r}"`;
    if (typeof s.maxProperties === "number" && Object.keys(o).length > s.maxProperties) {
      return `${at}: more than ${s.maxProperties} properties`;
    }
    for (const [k, val] of Object.entries(o)) {
      const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>)
        .filter(([p]) => new RegExp(p, "u").test(k));
      const sub = props[k] ??
        (patterns.length ? patterns[0]![1] : s.additionalProperties as Schema | undefined);
      if (sub === false) return `${at}: "${k}" is not allowed`;
      const why = sub === undefined ? undefined : violation(val, sub, root, `${at}.${k}`);
      if (why) return why;
    }
  }
  return undefined;
}
