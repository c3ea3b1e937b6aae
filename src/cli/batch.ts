/**
 * `wgllama batch MODEL --input prompts.jsonl [--output out.jsonl]`: answers a file of prompts,
 * writing one JSON line per prompt in input order as each completes, so an interrupted run loses
 * nothing and `--resume` finishes it.
 * @module
 */
import { EXIT, InputError, UsageError } from "../errors.ts";
import { type BatchRequest, generateBatch } from "../generate/batch.ts";
import type { GenerateResult } from "../generate/generate.ts";
import type { ChatMessage } from "../text/chat_template.ts";
import { command, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import { err, openOutput, out, writeOutput } from "./output.ts";
import {
  GENERATION_FLAGS,
  GENERATION_HELP,
  openSession,
  samplingFrom,
  type Session,
} from "./session.ts";

const USAGE = `Usage: wgllama batch [MODEL] --input FILE [--output FILE] [options]

Answers every line of a JSONL file: {"prompt": "..."}, {"messages": [...]} or {"prompt_ids": [...]},
each optionally with "id", "max_tokens", "temperature", "top_p", "seed" and "stop". Writes one
line per prompt, {"id", "text", "tokens", "finish_reason", "prompt_tokens"}, in input order as
each completes (finish_reason: stop, length = max tokens, context = the context filled). A line
that cannot run (malformed, an unknown role, ids outside the vocabulary, too long) is reported
with its line number and skipped; an unknown field is reported and ignored. The file is UTF-8.

  --input FILE        the prompts (JSONL)
  --output FILE       append results here (default: standard output)
  --resume            skip ids already in --output, which must hold only results of this input
                      (a torn last line is dropped first; anything else stops the run)
  --strict            stop at the first problem with a line instead of skipping it
  --raw               plain completion: no chat template
  --batch-size N      sequences decoded together (default 8): each step reads the weights once for
                      all of them; a finished sequence's slot takes the next prompt
${GENERATION_HELP}

${MODEL_HELP}
`;

/** One valid input line. */
interface Line {
  line: number;
  id: string | number;
  json: Record<string, unknown>;
}

/** The batch command. */
export const batch = command({
  name: "batch",
  summary: "answer a JSONL file of prompts, in order, resumable",
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
    const lines = readRequests(values.input, values.strict ?? false);
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
    let session: Session;
    try {
      session = await openSession(spec, values, {
        slots: Math.min(slots, todo.length),
        ...(todo.some((l) => l.json.prompt_ids === undefined)
          ? { tokenizerFor: "text prompts need one (use prompt_ids)" }
          : {}),
      });
    } catch (e) {
      sink?.close();
      throw e;
    }
    const { tokenizer } = session;
    // A prompt that cannot run (longer than the context) is reported like a malformed line.
    const runnable: Line[] = [];
    const requests: BatchRequest[] = [];
    for (const l of todo) {
      try {
        requests.push(request(session, l, values.raw ?? false));
        runnable.push(l);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        const where = `${values.input}:${l.line}: ${e.message}`;
        if (values.strict) throw new InputError(where);
        err(`wgllama: warning: ${where}; skipped`);
      }
    }
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    Deno.addSignalListener("SIGINT", onSigint);
    const started = performance.now();
    let tokens = 0;
    try {
      const results = await generateBatch(session.model, requests, {
        terminators: session.terminators,
        decode: (ids) => tokenizer?.decode(ids, { skipSpecial: true }) ?? "",
        signal: controller.signal,
        onResult: (i, r) => {
          const line = JSON.stringify(resultJson(runnable[i]!.id, r)) + "\n";
          if (sink) writeOutput(sink, values.output!, new TextEncoder().encode(line));
          else out(line);
          tokens += r.tokens.length;
          if (Deno.stderr.isTerminal()) {
            const rate = tokens / ((performance.now() - started) / 1000);
            Deno.stderr.writeSync(
              new TextEncoder().encode(
                `\r${i + 1}/${runnable.length} done, ${rate.toFixed(1)} tokens/s `,
              ),
            );
          }
        },
      });
      if (Deno.stderr.isTerminal()) err("");
      return results.length < requests.length ? EXIT.interrupted : EXIT.ok;
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
      sink?.close();
      session.close();
    }
  },
});

function resultJson(id: string | number, r: GenerateResult) {
  return {
    id,
    text: r.text,
    tokens: r.tokens,
    finish_reason: r.finishReason,
    prompt_tokens: r.promptTokens,
  };
}

/** The fields a line may have; any other (a misspelling, say) is reported. */
const FIELDS = [
  "id",
  "prompt",
  "messages",
  "prompt_ids",
  "max_tokens",
  "temperature",
  "top_p",
  "seed",
  "stop",
];
/** The roles a chat template knows; another role could smuggle text into the template's own. */
const ROLES = ["system", "user", "assistant", "tool"];

/**
 * Parses the input file; malformed lines are reported (and skipped, or fatal under `strict`).
 * The file must be UTF-8 (a byte-order mark is allowed): other bytes would be answered as text
 * the user never wrote.
 */
function readRequests(path: string, strict: boolean): Line[] {
  const text = decodeUtf8(readBytes(path), path);
  const lines: Line[] = [];
  const ids = new Set<string>();
  const report = (n: number, problem: string, skipped: boolean) => {
    if (strict) throw new InputError(`${path}:${n}: ${problem}`);
    err(`wgllama: warning: ${path}:${n}: ${problem}${skipped ? "; skipped" : ""}`);
  };
  text.split("\n").forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === "") return;
    const problem = validate(raw, n, ids);
    if (typeof problem === "string") return report(n, problem, true);
    for (const k of Object.keys(problem.json).filter((k) => !FIELDS.includes(k))) {
      report(n, `unknown field "${k}" (known: ${FIELDS.join(", ")}); ignored`, false);
    }
    ids.add(String(problem.id));
    lines.push(problem);
  });
  return lines;
}

/** A valid line, or what is wrong with it. */
function validate(raw: string, n: number, ids: Set<string>): Line | string {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return "not valid JSON";
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return "expected a JSON object";
  }
  const j = json as Record<string, unknown>;
  const inputs = ["prompt", "messages", "prompt_ids"].filter((k) => j[k] !== undefined);
  if (inputs.length !== 1) {
    return `expected exactly one of "prompt", "messages", "prompt_ids" (found ${inputs.length})`;
  }
  if (j.prompt !== undefined && (typeof j.prompt !== "string" || j.prompt === "")) {
    return `"prompt" must be a non-empty string`;
  }
  if (
    j.messages !== undefined &&
    !(Array.isArray(j.messages) && j.messages.length > 0 &&
      j.messages.every((m) => typeof m?.role === "string" && typeof m?.content === "string"))
  ) return `"messages" must be a non-empty list of {role, content} strings`;
  const role = (j.messages as { role: string }[] | undefined)?.find((m) => !ROLES.includes(m.role));
  if (role) {
    return `"messages" has role ${JSON.stringify(role.role)}: expected ${ROLES.join(", ")}`;
  }
  if (
    j.prompt_ids !== undefined &&
    !(Array.isArray(j.prompt_ids) && j.prompt_ids.length > 0 &&
      j.prompt_ids.every((t) => Number.isSafeInteger(t) && t >= 0))
  ) return `"prompt_ids" must be a non-empty list of token ids`;
  if (j.id !== undefined && typeof j.id !== "string" && typeof j.id !== "number") {
    return `"id" must be a string or a number`;
  }
  const id = (j.id as string | number | undefined) ?? n;
  if (ids.has(String(id))) return `duplicate id ${JSON.stringify(id)}`;
  if (
    j.stop !== undefined && typeof j.stop !== "string" &&
    !(Array.isArray(j.stop) && j.stop.every((s) => typeof s === "string"))
  ) {
    return `"stop" must be a string or a list of strings`;
  }
  for (const k of ["max_tokens", "seed"]) {
    if (
      j[k] !== undefined &&
      !(Number.isSafeInteger(j[k]) && (j[k] as number) >= (k === "seed" ? 0 : 1))
    ) {
      return `"${k}" is ${JSON.stringify(j[k])}: expected ${
        k === "seed" ? "an integer ≥ 0" : "an integer ≥ 1"
      }`;
    }
  }
  for (const [k, max] of [["temperature", 100], ["top_p", 1]] as const) {
    if (
      j[k] !== undefined &&
      !(typeof j[k] === "number" && (j[k] as number) >= 0 && (j[k] as number) <= max)
    ) {
      return `"${k}" is ${JSON.stringify(j[k])}: expected a number from 0 to ${max}`;
    }
  }
  return { line: n, id, json: j };
}

/** The prompt ids and per-line settings of one line, over the command's defaults. */
function request(s: Session, l: Line, raw: boolean): BatchRequest {
  const j = l.json;
  let promptIds: number[];
  if (j.prompt_ids !== undefined) promptIds = j.prompt_ids as number[];
  else {
    const messages: ChatMessage[] = j.messages !== undefined
      ? j.messages as ChatMessage[]
      : [...(s.system !== undefined ? [{ role: "system", content: s.system }] : []), {
        role: "user",
        content: j.prompt as string,
      }];
    promptIds = raw || !s.template
      ? s.tokenizer!.encode(messages.map((m) => m.content).join("\n"), { bos: true })
      : s.template.encode(messages);
  }
  if (promptIds.length >= s.model.contextLength) {
    throw new InputError(
      `the prompt has ${promptIds.length} tokens: the context holds ${s.model.contextLength} (raise --ctx)`,
    );
  }
  const vocab = s.model.config.vocabSize;
  const outside = promptIds.find((id) => id >= vocab);
  if (outside !== undefined) {
    throw new InputError(
      `"prompt_ids" holds ${outside}: expected token ids from 0 to ${vocab - 1}`,
    );
  }
  const sampling = samplingFrom({
    ...(j.temperature !== undefined ? { temperature: String(j.temperature) } : {}),
    ...(j.top_p !== undefined ? { "top-p": String(j.top_p) } : {}),
    ...(j.seed !== undefined ? { seed: String(j.seed) } : {}),
  }, { eosTokenIds: [] });
  return {
    promptIds,
    sampling: {
      ...s.sampling,
      ...(j.temperature !== undefined ? { temperature: sampling.temperature } : {}),
      ...(j.top_p !== undefined ? { topP: sampling.topP } : {}),
      ...(j.seed !== undefined ? { seed: sampling.seed } : {}),
    },
    maxTokens: (j.max_tokens as number | undefined) ?? s.maxTokens,
    stop: j.stop === undefined
      ? s.stop
      : typeof j.stop === "string"
      ? [j.stop]
      : j.stop as string[],
  };
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
    if (!complete && line.startsWith('{"id":')) break; // torn: cut below
    throw new InputError(
      `${path}:${i + 1}: not a result of ${input}${
        id === undefined ? "" : ` (id ${JSON.stringify(id)} is not in it)`
      }: --resume only continues a results file of this input (the file is left as it is)`,
    );
  }
  if (keep < bytes.length) Deno.truncateSync(path, keep);
  return ids;
}

/** The id of a result line as batch writes it, or undefined. */
function resultId(line: string): string | undefined {
  try {
    const j = JSON.parse(line);
    const isResult = typeof j === "object" && j !== null && !Array.isArray(j) &&
      (typeof j.id === "string" || typeof j.id === "number") && typeof j.text === "string" &&
      Array.isArray(j.tokens) && typeof j.finish_reason === "string";
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
