/** `wgllama logits MODEL (--ids 1,2,3 | --text STR) [--out FILE] [--top K] [--ctx N]`. */
import { InputError, UsageError } from "../errors.ts";
import { loadModel } from "../model/load.ts";
import { resolveModelDir } from "../io/hf_folder.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { command, idListFlag, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { err, openOutput, out, writeOutput } from "./output.ts";
import { progressBar } from "./progress.ts";
import { weightsFlag } from "./session.ts";

const USAGE =
  `Usage: wgllama logits [MODEL] (--ids 1,2,3 | --text STR) [--out FILE] [--top K] [--ctx N]

Runs one prefill over the tokens and reports the logits of every position: our tool for
comparing with other implementations.

  --ids LIST   comma-separated token ids
  --text STR   text, tokenized as Hugging Face's tokenizer(text) does
               (BOS prepended, special-token text parsed)
  --out FILE   write float32 little-endian logits, row-major [n_tokens, vocab_size]
  --top K      print the K best tokens of every position (default 5 without --out)
  --ctx N      context length (default: the number of tokens)
  --weights F  bf16 | q8 | q5 | q4 (default: as stored)
  --adapter D  a PEFT LoRA adapter folder, merged at load (compare with PEFT's logits)

${MODEL_HELP}
`;

/** The logits command. */
export const logits = command({
  name: "logits",
  summary: "write or show the logits of every position of a prompt",
  usage: USAGE,
  flags: {
    ids: { type: "string" },
    text: { type: "string" },
    out: { type: "string" },
    top: { type: "string" },
    ctx: { type: "string" },
    weights: { type: "string" },
    adapter: { type: "string" },
  },
  async run({ values, positionals }) {
    const spec = modelArg("logits", positionals);
    if ((values.ids === undefined) === (values.text === undefined)) {
      throw new UsageError(
        "logits: give exactly one of --ids or --text (see wgllama logits --help)",
      );
    }
    const top = values.top !== undefined
      ? intFlag("top", values.top)
      : values.out === undefined
      ? 5
      : 0;
    let tokenizer: TextTokenizer | undefined;
    const ids = values.ids !== undefined
      ? idListFlag("ids", values.ids)
      : encodeText(resolveModelDir(spec), values.text!);
    function encodeText(dir: string, text: string): number[] {
      tokenizer = TextTokenizer.load(dir);
      if (!tokenizer) {
        throw new InputError(`Cannot use --text: ${dir} has no tokenizer.json (use --ids)`);
      }
      // The one raw-text convention (as Hugging Face's tokenizer reads a string): its
      // post-processor adds BOS where the model expects one.
      return tokenizer.encode(text, { postProcess: true, special: true });
    }
    if (ids.length === 0) throw new InputError("--text encodes to zero tokens: nothing to run");
    const ctx = values.ctx !== undefined ? intFlag("ctx", values.ctx) : ids.length;
    // The output must be writable before the weights load.
    const file = values.out === undefined ? undefined : openOutput(values.out, { truncate: true });
    try {
      const loaded = await loadModel(spec, {
        contextLength: ctx,
        weights: weightsFlag(values.weights),
        ...(values.adapter !== undefined ? { adapter: values.adapter } : {}),
        onProgress: progressBar("Loading"),
      });
      const { model } = loaded;
      const V = model.config.vocabSize;
      const logits = await model.logits(ids, 0);
      if (file) {
        writeOutput(
          file,
          values.out!,
          new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength),
        );
        err(`wgllama: wrote logits [${ids.length}, ${V}] float32 to ${values.out}`);
      }
      if (top > 0) {
        tokenizer ??= TextTokenizer.load(resolveModelDir(spec));
        for (let p = 0; p < ids.length; p++) {
          const row = logits.subarray(p * V, (p + 1) * V);
          const best = [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, top);
          const shown = best.map((id) => {
            const text = tokenizer?.decode([id]);
            return `${id}${text === undefined ? "" : ` ${JSON.stringify(text)}`} ${
              row[id]!.toFixed(4)
            }`;
          });
          out(`${p}\t${ids[p]}\t${shown.join("\t")}\n`);
        }
      }
      loaded.close();
      return 0;
    } finally {
      file?.close();
    }
  },
});
