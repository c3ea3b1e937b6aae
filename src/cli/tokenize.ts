/** `wgllama tokenize` and `wgllama detokenize`: the model's tokenizer from the shell. */
import { InputError, UsageError } from "../errors.ts";
import { resolveModelDir } from "../io/hf_folder.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { command, MODEL_HELP, modelArg } from "./args.ts";
import { out } from "./output.ts";

const TOKENIZE_USAGE = `Usage: wgllama tokenize [MODEL] [--text STR] [--bos] [--special]

Prints the token ids of STR (or of standard input) as a JSON array.

  --text STR   the text (default: all of standard input)
  --bos        prepend the BOS token
  --special    parse special-token text such as <|eot_id|> as control tokens
               (default: it is ordinary text)

${MODEL_HELP}
`;

const DETOKENIZE_USAGE = `Usage: wgllama detokenize [MODEL] [--ids LIST] [--skip-special]

Prints the text of token ids given as LIST or on standard input (a JSON array or
comma/space-separated ids).

  --ids LIST       the ids (default: standard input)
  --skip-special   leave out special tokens

${MODEL_HELP}
`;

function loadTokenizer(spec: string): TextTokenizer {
  const dir = resolveModelDir(spec);
  const t = TextTokenizer.load(dir);
  if (!t) throw new InputError(`Cannot find ${dir}/tokenizer.json`);
  return t;
}

async function stdinText(command: string): Promise<string> {
  if (Deno.stdin.isTerminal()) {
    throw new UsageError(`${command}: give the input as a flag or on stdin`);
  }
  return await new Response(Deno.stdin.readable).text();
}

/** The tokenize command. */
export const tokenize = command({
  name: "tokenize",
  summary: "print the token ids of a text as JSON",
  usage: TOKENIZE_USAGE,
  flags: {
    text: { type: "string" },
    bos: { type: "boolean" },
    special: { type: "boolean" },
  },
  async run({ values, positionals }) {
    const tokenizer = loadTokenizer(modelArg("tokenize", positionals));
    const text = values.text ?? await stdinText("tokenize");
    out(
      JSON.stringify(
        tokenizer.encode(text, { bos: values.bos ?? false, special: values.special ?? false }),
      ) + "\n",
    );
    return 0;
  },
});

/** The detokenize command. */
export const detokenize = command({
  name: "detokenize",
  summary: "print the text of token ids",
  usage: DETOKENIZE_USAGE,
  flags: {
    ids: { type: "string" },
    "skip-special": { type: "boolean" },
  },
  async run({ values, positionals }) {
    const tokenizer = loadTokenizer(modelArg("detokenize", positionals));
    const input = (values.ids ?? await stdinText("detokenize")).trim();
    const parts = input.replace(/^\[|\]$/g, "").split(/[\s,]+/).filter((p) => p !== "");
    if (parts.some((p) => !/^\d+$/.test(p))) {
      throw new InputError(
        `Cannot read token ids from "${
          input.slice(0, 40)
        }": expected a JSON array or comma-separated integers`,
      );
    }
    const ids = parts.map(Number);
    const bad = ids.find((id) => tokenizer.tokenText(id) === undefined);
    if (bad !== undefined) {
      throw new InputError(`Token id ${bad} is not in the vocabulary of the tokenizer`);
    }
    out(tokenizer.decode(ids, { skipSpecial: values["skip-special"] ?? false }));
    if (Deno.stdout.isTerminal()) out("\n");
    return 0;
  },
});
