/** `wgllama run MODEL [PROMPT]`: one-shot generation for pipes; only the answer goes to stdout. */
import { EXIT, InputError, UsageError } from "../errors.ts";
import { generate } from "../generate/generate.ts";
import { promptIds as sessionPrompt } from "../generate/session.ts";
import { constraintsFor } from "../generate/choices.ts";
import { FieldError, type GenerationRequest, MAX_TOP_LOGPROBS } from "../generate/request.ts";
import { schemaFormat } from "../generate/response_format.ts";
import type { JsonFormat } from "../text/grammar.ts";
import { plainLogprobs, tokenView } from "../serve/logprobs.ts";
import { command, idListFlag, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { BUILTIN_MODEL, resolveModelDir } from "../io/hf_folder.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import { readStdinBytes } from "./input.ts";
import { err, out } from "./output.ts";
import { GENERATION_FLAGS, GENERATION_HELP, openSession, type Session } from "./session.ts";

const USAGE = `Usage: wgllama run [MODEL] [PROMPT] [options]

Generates one reply. The prompt is PROMPT, or standard input when PROMPT is absent. Only the
generated text goes to standard output; everything else goes to standard error.

  --raw                    plain completion: no chat template (BOS + prompt)
  --prompt-ids LIST        feed these comma-separated token ids as the prompt (implies --raw)
  --json                   print one JSON object {text, tokens, prompt_tokens, finish_reason, timings}
                           (finish_reason: stop, length = --max-tokens, context = the context filled,
                           interrupted = Ctrl-C; warnings when there are any)
  --truncate               drop the oldest prompt tokens when the prompt does not fit the context
  --json-schema FILE       the reply is JSON valid against this JSON schema (masked on the GPU as it
                           is drawn; the keywords of serve's response_format)
  --logprobs N             with --json: each generated token's log-probability under the model
                           (before sampling filters) and its N (0..20) most likely alternatives
${GENERATION_HELP}

Exit codes: 0 success, 1 error, 2 usage error, 130 interrupted (Ctrl-C).

${MODEL_HELP}
`;

/** The run command. */
export const run = command({
  name: "run",
  summary: "generate one reply to a prompt (argument or stdin), for scripts and pipes",
  usage: USAGE,
  flags: {
    ...GENERATION_FLAGS,
    raw: { type: "boolean" },
    "prompt-ids": { type: "string" },
    json: { type: "boolean" },
    truncate: { type: "boolean" },
    logprobs: { type: "string" },
    "json-schema": { type: "string" },
  },
  async run({ values, positionals }) {
    if (positionals.length > 2) {
      throw new UsageError(`run: expected MODEL [PROMPT], got ${positionals.length} arguments`);
    }
    const spec = modelArg("run", positionals.slice(0, 1));
    const promptIds = values["prompt-ids"] !== undefined
      ? idListFlag("prompt-ids", values["prompt-ids"])
      : undefined;
    if (promptIds && positionals.length === 2) {
      throw new UsageError("run: give PROMPT or --prompt-ids, not both");
    }
    if (positionals.length === 1) {
      // One argument is MODEL; a user who meant it as the prompt learns how to say that.
      try {
        resolveModelDir(spec);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        throw new InputError(
          `${e.message}. To prompt the default model, name it first (wgllama run ${BUILTIN_MODEL} "${
            spec.slice(0, 40)
          }") or pipe the prompt into stdin`,
        );
      }
    }
    const logprobs = values.logprobs !== undefined
      ? intFlag("logprobs", values.logprobs, 0, MAX_TOP_LOGPROBS.chat)
      : undefined;
    if (logprobs !== undefined && !values.json) {
      throw new UsageError("run: --logprobs needs --json (they are printed in its object)");
    }
    const format = values["json-schema"] !== undefined
      ? schemaFlag(values["json-schema"])
      : undefined;
    const text = promptIds ? "" : positionals[1] ?? await readStdin();
    if (!promptIds && text.trim() === "") {
      throw new InputError("The prompt is empty: give PROMPT or pipe text to stdin");
    }
    const session = await openSession(spec, values, {
      ...(promptIds && logprobs === undefined ? {} : {
        tokenizerFor: promptIds
          ? "--logprobs shows tokens as text"
          : "text prompts need one (or use --prompt-ids)",
      }),
    });
    const raw = values.raw || promptIds !== undefined || !session.template;
    if (!session.template && !values.raw && !promptIds) {
      err("wgllama: note: the model has no chat template; using raw completion");
    }
    // Every warning goes to stderr and, under --json, into the result.
    const warnings = [...session.warnings];
    const warn = (w: string) => (warnings.push(w), err(`wgllama: warning: ${w}`));
    if (raw && session.system !== undefined) {
      warn(
        `--system is ignored: ${
          session.template ? "raw completion" : "the model has no chat template"
        }`,
      );
    }
    let prompt = sessionPrompt(session, promptIds ? { ids: promptIds } : { text }, { raw });
    prompt = fitContext(prompt, session, values.truncate ?? false, warn);
    const constraint = format &&
      (await constraintsFor(session, { format, n: 1 } as GenerationRequest))![0]!;
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    Deno.addSignalListener("SIGINT", onSigint);
    try {
      const result = await generate(session.model, prompt, {
        sampling: session.sampling,
        maxTokens: session.maxTokens,
        terminators: session.terminators,
        stop: session.stop,
        decode: session.decode,
        signal: controller.signal,
        onText: values.json ? undefined : out,
        ...(logprobs !== undefined ? { logprobs } : {}),
        ...(constraint ? { constraint } : {}),
      });
      if (values.json) {
        out(
          JSON.stringify({
            text: result.text,
            tokens: result.tokens,
            prompt_tokens: result.promptTokens,
            finish_reason: result.finishReason,
            ...(logprobs !== undefined
              ? {
                logprobs: plainLogprobs(result.logprobs ?? [], tokenView(session.tokenizer!)),
              }
              : {}),
            ...(warnings.length ? { warnings } : {}),
            timings: {
              prefill_seconds: result.timings.prefillSeconds,
              decode_seconds: result.timings.decodeSeconds,
              prefill_tokens_per_second: result.timings.prefillTokensPerSecond,
              decode_tokens_per_second: result.timings.decodeTokensPerSecond,
            },
          }) + "\n",
        );
      } else if (Deno.stdout.isTerminal() && !result.text.endsWith("\n")) out("\n");
      if (result.finishReason === "context") {
        err(
          `wgllama: note: the reply stopped at the end of the context (${session.model.contextLength} tokens; raise --ctx)`,
        );
      } else if (result.finishReason === "interrupted") err("wgllama: note: interrupted");
      if (Deno.stderr.isTerminal()) {
        const t = result.timings;
        err(
          `wgllama: ${result.tokens.length} tokens (${result.finishReason}); prefill ${result.promptTokens} tokens at ` +
            `${t.prefillTokensPerSecond.toFixed(1)} tokens/s, decode ${
              t.decodeTokensPerSecond.toFixed(1)
            } tokens/s`,
        );
      }
      return result.finishReason === "interrupted" ? EXIT.interrupted : EXIT.ok;
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
      constraint?.dispose();
      session.close();
    }
  },
});

/** Refuses (or with `truncate`, trims from the front, keeping BOS) a prompt the context cannot hold. */
function fitContext(
  prompt: number[],
  session: Session,
  truncate: boolean,
  warn: (warning: string) => void,
): number[] {
  const ctx = session.model.contextLength;
  if (prompt.length < ctx) return prompt;
  if (!truncate) {
    throw new InputError(
      `The prompt has ${prompt.length} tokens: the context holds ${ctx} (raise --ctx, or pass --truncate)`,
    );
  }
  const keep = Math.max(1, ctx - Math.min(session.maxTokens, Math.floor(ctx / 2)));
  const bos = session.tokenizer?.bosTokenId ?? session.model.config.bosTokenId;
  const head = prompt[0] === bos ? [prompt[0]!] : [];
  const trimmed = [...head, ...prompt.slice(prompt.length - (keep - head.length))];
  warn(`prompt truncated from ${prompt.length} to ${trimmed.length} tokens to fit --ctx ${ctx}`);
  return trimmed;
}

/** `--json-schema FILE`: the schema, checked as serve checks response_format's. */
function schemaFlag(path: string): JsonFormat {
  const text = decodeUtf8(readBytes(path), path);
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    throw new InputError(`--json-schema ${path}: not JSON (${e instanceof Error ? e.message : e})`);
  }
  try {
    return schemaFormat(schema, "$");
  } catch (e) {
    if (e instanceof FieldError) throw new InputError(`--json-schema ${path}: ${e.message}`);
    throw e;
  }
}

async function readStdin(): Promise<string> {
  if (Deno.stdin.isTerminal()) {
    throw new UsageError("run: give PROMPT, or pipe the prompt into stdin");
  }
  const text = decodeUtf8(await readStdinBytes(), "standard input");
  return text.replace(/\r?\n$/, "");
}
