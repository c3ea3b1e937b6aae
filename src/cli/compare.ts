/** `wgllama compare MODEL --weights bf16|q8|q5|q4 (--ids L | --text FILE)`: packed vs stored logits. */
import { InputError, UsageError } from "../errors.ts";
import { resolveModelDir } from "../io/hf_folder.ts";
import { compareWeights } from "../model/compare.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { command, idListFlag, MODEL_HELP, modelArg } from "./args.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import { out } from "./output.ts";
import { weightsFlag } from "./session.ts";

const USAGE =
  `Usage: wgllama compare [MODEL] --weights bf16|q8|q5|q4 (--ids LIST | --text FILE) [--json]

Runs the model in its stored dtype and packed (rounded to bf16 or quantized) on the same tokens
and reports top-1 agreement, mean KL divergence KL(stored ‖ packed) and the largest logit error
over every position, and the perplexity of the tokens under both (mean cross-entropy of each next
token, as \`wgllama perplexity\` with one window).

  --weights F   bf16, q8, q5 or q4
  --adapter D   a PEFT LoRA adapter merged into both (packed and stored) before comparing
  --ids LIST    comma-separated token ids
  --text FILE   a text file, tokenized with BOS (needs tokenizer.json)
  --json        print {"weights", "positions", "top1_agreement", "mean_kl", "max_abs_logit_error",
                "ppl", "ppl_reference", "delta_ppl"} (delta_ppl = ppl / ppl_reference − 1)

${MODEL_HELP}
`;

/** The compare command. */
export const compare = command({
  name: "compare",
  summary: "accuracy of quantized weights: top-1 agreement, mean KL, max logit error",
  usage: USAGE,
  flags: {
    weights: { type: "string" },
    adapter: { type: "string" },
    ids: { type: "string" },
    text: { type: "string" },
    json: { type: "boolean" },
  },
  async run({ values, positionals }) {
    const spec = modelArg("compare", positionals);
    const format = weightsFlag(values.weights);
    if (format === undefined) {
      throw new UsageError("compare: --weights bf16, q8, q5 or q4 is required");
    }
    if ((values.ids === undefined) === (values.text === undefined)) {
      throw new UsageError("compare: give exactly one of --ids or --text");
    }
    let ids: number[];
    if (values.ids !== undefined) ids = idListFlag("ids", values.ids);
    else {
      const text = decodeUtf8(readBytes(values.text!), values.text!);
      const tokenizer = TextTokenizer.load(resolveModelDir(spec));
      if (!tokenizer) {
        throw new InputError(`Cannot use --text: ${spec} has no tokenizer.json (use --ids)`);
      }
      ids = tokenizer.encode(text, { postProcess: true }); // the one raw-text convention
    }
    if (ids.length === 0) throw new InputError("Nothing to compare: zero tokens");
    const r = await compareWeights(spec, format, ids, values.adapter);
    const [pplTest, pplReference] = [r.ppl, r.pplReference];
    const json = {
      weights: format,
      positions: r.positions,
      top1_agreement: r.top1Agreement,
      mean_kl: r.meanKl,
      max_abs_logit_error: r.maxAbsLogitError,
      ppl: pplTest,
      ppl_reference: pplReference,
      delta_ppl: pplTest / pplReference - 1,
    };
    if (values.json) out(JSON.stringify(json) + "\n");
    else {
      out(
        `${format} vs stored weights over ${r.positions} positions: top-1 agreement ${
          (100 * r.top1Agreement).toFixed(2)
        }%, mean KL ${r.meanKl.toExponential(3)} nats, max |logit error| ${
          r.maxAbsLogitError.toFixed(4)
        }; perplexity ${pplTest.toFixed(4)} vs ${pplReference.toFixed(4)} stored (${
          json.delta_ppl >= 0 ? "+" : ""
        }${(100 * json.delta_ppl).toFixed(2)}%)\n`,
      );
    }
    return 0;
  },
});
