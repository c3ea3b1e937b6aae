/**
 * The files of `wgllama batch`: request lines read and checked (OpenAI's Batch form or short
 * lines), a results file checked before `--resume` continues it, and the guard against writing
 * results into the input.
 * @module
 */
import { InputError } from "../errors.ts";
import {
  FIELD_NAMES,
  FieldError,
  type GenerationRequest,
  parseRequest,
} from "../generate/request.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";

/** One input line: its number, id, and the request (or the field error that stops it). */
export interface Line {
  line: number;
  id: string | number;
  /** OpenAI's Batch form: the endpoint it names. */
  url?: "/v1/chat/completions" | "/v1/completions";
  request: GenerationRequest | FieldError;
}

export const URLS = { "/v1/chat/completions": "chat", "/v1/completions": "completion" } as const;

/**
 * Reads the input file; malformed lines are reported (and skipped, or fatal under `strict`).
 * The file must be UTF-8 (a byte-order mark is allowed): other bytes would be answered as text
 * the user never wrote.
 */
export function readLines(
  path: string,
  report: (n: number, problem: string, skipped: boolean) => void,
): Line[] {
  const text = decodeUtf8(readBytes(path), path);
  const lines: Line[] = [];
  const ids = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === "") return;
    try {
      const l = parseLine(raw, n, report);
      if (ids.has(String(l.id))) throw new InputError(`duplicate id ${JSON.stringify(l.id)}`);
      ids.add(String(l.id));
      lines.push(l);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      report(n, e.message, true);
    }
  });
  return lines;
}

/** One line as a request. A short line's field error is thrown; an OpenAI line's is kept. */
function parseLine(
  raw: string,
  n: number,
  report: (n: number, problem: string, skipped: boolean) => void,
): Line {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new InputError("not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InputError("expected a JSON object");
  }
  const j = json as Record<string, unknown>;
  const unknown = (keys: string[], known: readonly string[]) => {
    for (const k of keys) {
      report(n, `unknown field "${k}" (known: ${known.join(", ")}); ignored`, false);
    }
  };
  if (j.custom_id === undefined) {
    if (j.id !== undefined && typeof j.id !== "string" && typeof j.id !== "number") {
      throw new InputError(`"id" must be a string or a number`);
    }
    const { id, ...body } = j;
    const request = parseRequest(body, "line");
    if (request.n !== 1) {
      throw new FieldError("n", request.n, "1 in a short line (OpenAI's Batch lines take n)");
    }
    unknown(request.unknown, ["id", ...FIELD_NAMES]);
    return { line: n, id: (id as string | number | undefined) ?? n, request };
  }
  if (typeof j.custom_id !== "string") throw new InputError(`"custom_id" must be a string`);
  if (j.method !== "POST") {
    throw new InputError(`"method" is ${JSON.stringify(j.method)}: expected "POST"`);
  }
  const url = j.url as Line["url"];
  if (!(typeof url === "string" && url in URLS)) {
    throw new InputError(
      `"url" is ${JSON.stringify(j.url)}: expected "/v1/chat/completions" or "/v1/completions"`,
    );
  }
  let request: GenerationRequest | FieldError;
  try {
    const r = parseRequest(j.body, URLS[url]);
    unknown(r.unknown.map((k) => `body.${k}`), FIELD_NAMES);
    request = r;
  } catch (e) {
    if (!(e instanceof FieldError)) throw e;
    request = e;
  }
  unknown(Object.keys(j).filter((k) => !["custom_id", "method", "url", "body"].includes(k)), [
    "custom_id",
    "method",
    "url",
    "body",
  ]);
  return { line: n, id: j.custom_id, url, request };
}

/**
 * Ids already answered in `path` by an earlier run on this input. Every complete line must be a
 * result of this input; a torn last line (the start of a result whose write was interrupted) is
 * cut off. Anything else — a foreign line, a file that is not ours — stops the run before a byte
 * of the file changes.
 */
export function completedIds(
  path: string,
  inputIds: ReadonlySet<string>,
  input: string,
): Set<string> {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new Set();
    throw new InputError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
  const text = decodeUtf8(bytes, path);
  const ids = new Set<string>();
  let keep = 0; // bytes of complete result lines
  for (const [i, line] of text.split(/(?<=\n)/).entries()) {
    if (line === "") continue;
    const complete = line.endsWith("\n");
    const id = complete ? resultId(line) : undefined;
    if (id !== undefined && inputIds.has(id)) {
      ids.add(id);
      keep += new TextEncoder().encode(line).length;
      continue;
    }
    if (!complete && line.startsWith("{")) break; // torn: cut below
    throw new InputError(
      `${path}:${i + 1}: not a result of ${input}${
        id === undefined ? "" : ` (id ${JSON.stringify(id)} is not in it)`
      }: --resume only continues a results file of this input (the file is left as it is)`,
    );
  }
  if (keep < bytes.length) Deno.truncateSync(path, keep);
  return ids;
}

/** The id of a result line as batch writes it (either form), or undefined. */
function resultId(line: string): string | undefined {
  try {
    const j = JSON.parse(line);
    if (typeof j !== "object" || j === null || Array.isArray(j)) return undefined;
    if (typeof j.custom_id === "string" && typeof j.response?.status_code === "number") {
      return j.custom_id;
    }
    const isResult = (typeof j.id === "string" || typeof j.id === "number") &&
      typeof j.text === "string" && Array.isArray(j.tokens) && typeof j.finish_reason === "string";
    return isResult ? String(j.id) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether two paths name one existing file (through links and relative paths). */
export function sameFile(a: string, b: string): boolean {
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return false; // one does not exist (yet)
  }
}
