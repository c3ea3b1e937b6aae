/**
 * `wgllama batch MODEL --input requests.jsonl [--output out.jsonl]`: answers a file of requests
 * (OpenAI's Batch file format, or our short lines), writing one JSON line per request in input
 * order as each completes, so an interrupted run loses nothing and `--resume` finishes it. Every
 * line is a request to one {@linkcode Engine}, checked by the one request table.
 * @module
 */
import { EXIT, InputError, UsageError } from "../errors.ts";
import { Engine, type EngineResult } from "../generate/engine.ts";
import {
  FIELD_NAMES,
  FieldError,
  type GenerationRequest,
  mergeSampling,
  parseRequest,
} from "../generate/request.ts";
import { promptIds, type Session } from "../generate/session.ts";
import { completionBase, completionObject } from "../serve/openai.ts";
import { command, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import { err, openOutput, out, writeOutput } from "./output.ts";
import { GENERATION_FLAGS, GENERATION_HELP, openSession } from "./session.ts";

const USAGE = `Usage: wgllama batch [MODEL] --input FILE [--output FILE] [options]

Answers every line of a JSONL file, in either form:
  OpenAI's Batch API: {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions" or
    "/v1/completions", "body": {...}}, answered with OpenAI's output lines: {"id", "custom_id",
    "response": {"status_code", "request_id", "body"}, "error"}, the body being the object
    wgllama serve returns (a request that cannot run gets its 4xx status and error object). The
    same file runs on OpenAI's Batch API and vLLM's run_batch; "model" is not checked.
  short lines: {"prompt": "..."}, {"messages": [...]} or {"prompt_ids": [...]}, with "id" and any
    request field (max_tokens, temperature, top_p, top_k, min_p, repetition_penalty, seed, stop),
    answered with {"id", "text", "tokens", "finish_reason", "prompt_tokens"} (finish_reason: stop,
    length = max tokens, context = the context filled); a line that cannot run is reported with
    its number and skipped.
Lines are written in input order as each completes. A malformed line is reported with its number
and skipped; an unknown field is reported and ignored. The file is UTF-8.

  --input FILE        the requests (JSONL)
  --output FILE       append results here (default: standard output)
  --resume            skip requests already answered in --output, which must hold only results
                      of this input (a torn last line is dropped first; anything else stops)
  --strict            stop at the first problem with a line instead of skipping it
  --raw               plain completion: no chat template
  --batch-size N      sequences decoded together (default 8): each step reads the weights once for
                      all of them; a finished sequence's slot takes the next request
${GENERATION_HELP}

${MODEL_HELP}
`;

/** One input line: its number, id, and the request (or the field error that stops it). */
interface Line {
  line: number;
  id: string | number;
  /** OpenAI's Batch form: the endpoint it names. */
  url?: "/v1/chat/completions" | "/v1/completions";
  request: GenerationRequest | FieldError;
}

const URLS = { "/v1/chat/completions": "chat", "/v1/completions": "completion" } as const;

/** The batch command. */
export const batch = command({
  name: "batch",
  summary: "answer a JSONL file of requests (OpenAI Batch format), in order, resumable",
  usage: USAGE,
  flags: {
    ...GENERATION_FLAGS,
    input: { type: "string" },
    output: { type: "string" },
    resume: { type: "boolean" },
    strict: { type: "boolean" },
    raw: { type: "boolean" },
    "batch-size": { type: "string" },
  },
  async run({ values, positionals }) {
    const spec = modelArg("batch", positionals);
    if (values.input === undefined) throw new UsageError("batch: --input FILE is required");
    if (values.resume && values.output === undefined) {
      throw new UsageError("batch: --resume needs --output");
    }
    if (values.output !== undefined && sameFile(values.input, values.output)) {
      throw new InputError(
        `--output ${values.output} is the --input file: results would be appended to the prompts; choose another file`,
      );
    }
    const slots = values["batch-size"] !== undefined
      ? intFlag("batch-size", values["batch-size"], 1, 256)
      : 8;
    const strict = values.strict ?? false;
    const modelId = spec.replace(/\/+$/, "").split("/").at(-1)!;
    const report = (n: number, problem: string, skipped: boolean) => {
      if (strict) throw new InputError(`${values.input}:${n}: ${problem}`);
      err(`wgllama: warning: ${values.input}:${n}: ${problem}${skipped ? "; skipped" : ""}`);
    };
    const lines = readLines(values.input!, report);
    const done = values.resume
      ? completedIds(values.output!, new Set(lines.map((l) => String(l.id))), values.input)
      : new Set<string>();
    const todo = lines.filter((l) => !done.has(String(l.id)));
    if (done.size) {
      err(`wgllama: resuming: ${lines.length - todo.length} of ${lines.length} already done`);
    }
    if (todo.length === 0) return EXIT.ok;

    // The output must be writable before the weights load (a typo costs no loading time).
    const sink = values.output === undefined ? undefined : openOutput(values.output);
    const write = (o: unknown) => {
      const line = JSON.stringify(o) + "\n";
      if (sink) writeOutput(sink, values.output!, new TextEncoder().encode(line));
      else out(line);
    };
    let session: Session;
    try {
      const needsText = todo.some((l) =>
        !(l.request instanceof FieldError) && !("ids" in l.request.input)
      );
      session = await openSession(spec, values, {
        slots: Math.min(slots, todo.length),
        ...(needsText ? { tokenizerFor: "text prompts need one (use prompt_ids)" } : {}),
      });
    } catch (e) {
      sink?.close();
      throw e;
    }
    const engine = new Engine(session.model, {
      terminators: session.terminators,
      decode: session.decode,
    });
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    Deno.addSignalListener("SIGINT", onSigint);
    const started = performance.now();
    let tokens = 0;
    try {
      // Every line is checked (under --strict, before any runs), then all are submitted at once;
      // results are written in input order as they complete.
      const prepared = todo.map((l) => {
        // OpenAI's /v1/completions lines are plain text, as serve reads them.
        const raw = (values.raw ?? false) || l.url === "/v1/completions";
        const p = prepare(session, l, raw);
        if (p instanceof FieldError && !l.url) report(l.line, p.message, true);
        return p;
      });
      const answers = prepared.map((p) => answer(session, engine, p, controller.signal));
      for (const [i, l] of todo.entries()) {
        const a = await answers[i]!.catch((e: unknown) => ({ failed: e }));
        if (a instanceof FieldError && !l.url) continue; // reported above
        if (
          "failed" in a || (Array.isArray(a) && a.some((x) => x.finishReason === "interrupted"))
        ) {
          if (controller.signal.aborted) return EXIT.interrupted; // the rest waits for --resume
          throw "failed" in a ? a.failed : new Error("interrupted");
        }
        write(resultJson(l, a, modelId));
        if (Array.isArray(a)) tokens += a.reduce((n, x) => n + x.tokens.length, 0);
        if (Deno.stderr.isTerminal()) {
          const rate = tokens / ((performance.now() - started) / 1000);
          Deno.stderr.writeSync(
            new TextEncoder().encode(
              `\r${i + 1}/${todo.length} done, ${rate.toFixed(1)} tokens/s `,
            ),
          );
        }
      }
      if (Deno.stderr.isTerminal()) err("");
      return EXIT.ok;
    } finally {
      controller.abort();
      await engine.idle();
      Deno.removeSignalListener("SIGINT", onSigint);
      sink?.close();
      session.close();
    }
  },
});

/** A line ready to submit: its prompt ids and request, or the field error that stops it. */
type Prepared = { ids: number[]; request: GenerationRequest } | FieldError;

/** A line's prompt ids, checked against the vocabulary and the context. */
function prepare(s: Session, l: Line, raw: boolean): Prepared {
  const r = l.request;
  if (r instanceof FieldError) return r;
  try {
    const ids = promptIds(s, r.input, { raw });
    if (ids.length >= s.model.contextLength) {
      throw new FieldError(
        "messages" in r.input ? "messages" : "prompt",
        undefined,
        "",
        "invalid_value",
        `the prompt has ${ids.length} tokens: the context holds ${s.model.contextLength} (raise --ctx)`,
      );
    }
    return { ids, request: r };
  } catch (e) {
    if (e instanceof FieldError) return e;
    throw e;
  }
}

/** Submits a prepared line (a field error is its own answer). */
function answer(
  s: Session,
  engine: Engine,
  p: Prepared,
  signal: AbortSignal,
): Promise<EngineResult[] | FieldError> {
  if (p instanceof FieldError) return Promise.resolve(p);
  const r = p.request;
  const sampling = mergeSampling(s.sampling, r.sampling);
  // Choice i draws with seed + i; the first's prompt is copied, not computed, for the others.
  return Promise.all(Array.from({ length: r.n }, (_, i) =>
    engine.submit({
      promptIds: p.ids,
      sampling: { ...sampling, seed: (sampling.seed + i) >>> 0 },
      maxTokens: r.maxTokens ?? s.maxTokens,
      stop: r.stop ?? s.stop,
      signal,
    })));
}

/** A line's output: OpenAI's Batch output line, or the short result line. */
function resultJson(l: Line, a: EngineResult[] | FieldError, model: string) {
  if (!l.url) {
    const r = (a as EngineResult[])[0]!;
    return {
      id: l.id,
      text: r.text,
      tokens: r.tokens,
      finish_reason: r.finishReason,
      prompt_tokens: r.promptTokens,
    };
  }
  const kind = URLS[l.url];
  const body = a instanceof FieldError
    ? {
      error: {
        message: a.message,
        type: "invalid_request_error",
        param: a.field === "prompt_ids" ? "prompt" : a.field,
        code: a.code,
      },
    }
    : completionObject(kind, completionBase(kind, model), a);
  return {
    id: `batch_req_${crypto.randomUUID().replaceAll("-", "")}`,
    custom_id: l.id,
    response: {
      status_code: a instanceof FieldError ? 400 : 200,
      request_id: crypto.randomUUID(),
      body,
    },
    error: null,
  };
}

/**
 * Reads the input file; malformed lines are reported (and skipped, or fatal under `strict`).
 * The file must be UTF-8 (a byte-order mark is allowed): other bytes would be answered as text
 * the user never wrote.
 */
function readLines(
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
function completedIds(path: string, inputIds: ReadonlySet<string>, input: string): Set<string> {
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
function sameFile(a: string, b: string): boolean {
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return false; // one does not exist (yet)
  }
}
