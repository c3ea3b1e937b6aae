/** `wgllama perplexity [MODEL]`: how well a model predicts a text (mean cross-entropy, ppl). */
import { InputError, UsageError } from "../errors.ts";
import { resolveModelDir } from "../io/hf_folder.ts";
import { openCheckpoint } from "../model/checkpoint.ts";
import { loadModel } from "../model/load.ts";
import { perplexity as measure } from "../model/perplexity.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { command, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import { readStdinBytes } from "./input.ts";
import { out } from "./output.ts";
import { progressBar } from "./progress.ts";
import { weightsFlag } from "./session.ts";

const USAGE =
  `Usage: wgllama perplexity [MODEL] [--text FILE] [--ctx N] [--stride N] [--weights F] [--json]

Measures how well the model predicts a text: the mean negative log-likelihood of each next token
(Hugging Face's causal-LM loss with labels = input ids) and the perplexity exp(NLL). The text is
tokenized as Hugging Face's tokenizer(text) does (BOS when the tokenizer adds it; special-token
text is plain text). A text longer than the context is scored in windows of --ctx tokens every
--stride tokens (Hugging Face's recipe): each token is scored once, in the first window that ends
after it, with up to ctx − stride tokens of context carried over; a window's first token is not
scored. Log-softmax runs on the GPU; the logits are never read back.

  --text FILE   the text (default: standard input), UTF-8
  --ctx N       tokens per window (default: the model's context, at most 4096)
  --stride N    tokens between window starts, 1..ctx (default: ctx)
  --weights F   bf16 | q8 | q5 | q4: round or quantize the matrices at load (default: as stored)
  --adapter D   a PEFT LoRA adapter folder, merged at load
  --json        print {"tokens", "windows", "nll", "ppl", "ctx", "stride", "weights",
                "tokens_per_second"} (tokens: scored; tokens_per_second: run through the model)

${MODEL_HELP}
`;

/** The perplexity command. */
export const perplexity = command({
  name: "perplexity",
  summary: "how well a model predicts a text: mean cross-entropy and perplexity",
  usage: USAGE,
  flags: {
    text: { type: "string" },
    ctx: { type: "string" },
    stride: { type: "string" },
    weights: { type: "string" },
    adapter: { type: "string" },
    json: { type: "boolean" },
  },
  async run({ values, positionals }) {
    const spec = modelArg("perplexity", positionals);
    const weights = weightsFlag(values.weights);
    const ckpt = openCheckpoint(spec, { weightsOptional: true });
    const trained = ckpt.config.maxPositionEmbeddings;
    ckpt.close();
    const ctx = values.ctx !== undefined
      ? intFlag("ctx", values.ctx, 2, trained)
      : Math.min(trained, 4096);
    const stride = values.stride !== undefined ? intFlag("stride", values.stride, 1, ctx) : ctx;
    const tokenizer = TextTokenizer.load(resolveModelDir(spec));
    if (!tokenizer) throw new InputError(`Cannot score text: ${spec} has no tokenizer.json`);
    const source = values.text ?? "standard input";
    const text = decodeUtf8(await readInput(values.text), source);
    if (text.length === 0) throw new InputError(`The text (${source}) is empty: nothing to score`);
    const ids = tokenizer.encode(text, { postProcess: true });
    if (ids.length < 2) {
      throw new InputError(
        `The text (${source}) is ${ids.length} token: perplexity needs at least 2 (one to predict)`,
      );
    }
    const loaded = await loadModel(spec, {
      contextLength: Math.min(ctx, ids.length),
      weights,
      ...(values.adapter !== undefined ? { adapter: values.adapter } : {}),
      onProgress: progressBar("Loading"),
    });
    const { model } = loaded;
    try {
      const r = await measure(model, ids, {
        ctx: Math.min(ctx, ids.length),
        stride: Math.min(stride, ids.length),
        onProgress: ids.length > 4 * model.prefillChunk
          ? progressBar("Scoring", "tokens")
          : undefined,
      });
      if (values.json) {
        out(
          JSON.stringify({
            tokens: r.tokens,
            windows: r.windows,
            nll: r.nll,
            ppl: r.ppl,
            ctx,
            stride,
            weights: weights ?? "stored",
            tokens_per_second: r.tokensPerSecond,
          }) + "\n",
        );
      } else {
        out(
          `perplexity ${r.ppl.toFixed(4)} (mean NLL ${
            r.nll.toFixed(5)
          } nats) over ${r.tokens} tokens, ` +
            `${r.windows} window${
              r.windows === 1 ? "" : "s"
            } (ctx ${ctx}, stride ${stride}, weights ${weights ?? "as stored"}); ${
              r.tokensPerSecond.toFixed(1)
            } tokens/s\n`,
        );
      }
      return 0;
    } finally {
      loaded.close();
    }
  },
});

async function readInput(path: string | undefined): Promise<Uint8Array> {
  if (path !== undefined) return readBytes(path);
  if (Deno.stdin.isTerminal()) {
    throw new UsageError("perplexity: give --text FILE, or pipe the text into stdin");
  }
  return await readStdinBytes();
}
