/**
 * `wgllama batch MODEL --input requests.jsonl [--output out.jsonl]`: answers a file of requests
 * (OpenAI's Batch file format, or our short lines), writing one JSON line per request in input
 * order as each completes, so an interrupted run loses nothing and `--resume` finishes it. Every
 * line is a request to one {@linkcode Engine}, checked by the one request table.
 * @module
 */
import { EXIT, InputError, UsageError } from "../errors.ts";
import { constraintsFor, submitChoices } from "../generate/choices.ts";
import { Engine, type EngineResult } from "../generate/engine.ts";
import { FieldError, type GenerationRequest, mergeSampling } from "../generate/request.ts";
import { promptIds, type Session } from "../generate/session.ts";
import { plainLogprobs } from "../serve/logprobs.ts";
import { completionBase, completionObject, type Shown, shownFor } from "../serve/openai.ts";
import { command, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { completedIds, type Line, readLines, sameFile, URLS } from "./batch_file.ts";
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
        !(l.request instanceof FieldError) &&
        (!("ids" in l.request.input) || l.request.logprobs !== undefined || l.request.echo)
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
        const p = prepare(session, l, values.raw ?? false);
        if (p instanceof FieldError && !l.url) report(l.line, p.message, true);
        return p;
      });
      const answers = prepared.map((p) => answer(session, engine, p, controller.signal));
      for (const [i, l] of todo.entries()) {
        const a = await answers[i]!.catch((e: unknown) => ({ failed: e }));
        if (a instanceof FieldError && !l.url) {
          if (!(prepared[i] instanceof FieldError)) report(l.line, a.message, true);
          continue;
        }
        if (
          "failed" in a || (Array.isArray(a) && a.some((x) => x.finishReason === "interrupted"))
        ) {
          if (controller.signal.aborted) return EXIT.interrupted; // the rest waits for --resume
          throw "failed" in a ? a.failed : new Error("interrupted");
        }
        const p = prepared[i]!;
        const shown = p instanceof FieldError ? {} : shownFor(p.request, p.ids, session.tokenizer!);
        write(resultJson(l, a, modelId, shown));
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
    const ids = promptIds(s, r.input, { raw: raw || r.raw, tools: r.tools });
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
async function answer(
  s: Session,
  engine: Engine,
  p: Prepared,
  signal: AbortSignal,
): Promise<EngineResult[] | FieldError> {
  if (p instanceof FieldError) return p;
  const r = p.request;
  let constraints;
  try {
    constraints = await constraintsFor(s, r);
  } catch (e) {
    if (e instanceof FieldError) return e;
    throw e;
  }
  return await Promise.all(submitChoices(engine, p.ids, r, {
    sampling: mergeSampling(s.sampling, r.sampling),
    maxTokens: r.maxTokens ?? s.maxTokens,
    stop: r.stop ?? s.stop,
  }, { signal, constraints }));
}

/** A line's output: OpenAI's Batch output line, or the short result line. */
function resultJson(l: Line, a: EngineResult[] | FieldError, model: string, shown: Shown) {
  if (!l.url) {
    const r = (a as EngineResult[])[0]!;
    const view = shown.logprobs;
    return {
      id: l.id,
      text: r.text,
      tokens: r.tokens,
      finish_reason: r.finishReason,
      prompt_tokens: r.promptTokens,
      ...(view ? { logprobs: plainLogprobs(r.logprobs ?? [], view) } : {}),
      ...(view && r.promptLogprobs
        ? { prompt_logprobs: plainLogprobs(r.promptLogprobs, view) }
        : {}),
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
    : completionObject(kind, completionBase(kind, model), a, shown);
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
