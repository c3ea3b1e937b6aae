/** `wgllama init --config config.json --out DIR`: a new, randomly initialised model folder. */
import { InputError, UsageError } from "../errors.ts";
import { readJson, resolveModelDir } from "../io/hf_folder.ts";
import { parseLlamaConfig } from "../model/config.ts";
import { countParameters } from "../model/tensors.ts";
import { writeNewModel } from "../train/init.ts";
import { checkOutFolder, parseSaveDtype, saveDtypeOf } from "../train/save.ts";
import { command, intFlag } from "./args.ts";
import { out } from "./output.ts";

const USAGE =
  `Usage: wgllama init --config config.json --out DIR [--tokenizer MODEL] [--seed N] [--dtype T]

Writes a new model folder with Hugging Face's initialisation of LlamaForCausalLM: every linear
and embedding weight from normal(0, initializer_range) (config.json's, default 0.02), norms at 1.
Train it with wgllama train.

  --config FILE     a Llama config.json (hidden_size, num_hidden_layers, vocab_size, ...)
  --out DIR         the folder to write (config.json, generation_config.json, model.safetensors)
  --tokenizer MODEL copy tokenizer.json and tokenizer_config.json from this model folder (or
                    hub id, or the built-in stories-260k), so the model can read text
  --seed N          the initialisation's seed (default 42)
  --dtype T         f32 | bf16 | f16 (default: config's torch_dtype, else f32)
  --overwrite       replace the model --out already holds (refused without it)
`;

/** The init command. */
export const init = command({
  name: "init",
  summary: "write a new, randomly initialised model folder (to train from scratch)",
  usage: USAGE,
  flags: {
    config: { type: "string" },
    out: { type: "string" },
    tokenizer: { type: "string" },
    seed: { type: "string" },
    dtype: { type: "string" },
    overwrite: { type: "boolean" },
  },
  run({ values, positionals }) {
    if (positionals.length) {
      throw new UsageError("init: takes no MODEL argument (see wgllama init --help)");
    }
    if (!values.config || !values.out) {
      throw new UsageError(
        "init: --config FILE and --out DIR are required (see wgllama init --help)",
      );
    }
    const json = readJson(values.config) as Record<string, unknown>;
    const config = parseLlamaConfig(json, values.config);
    // As Hugging Face's _init_weights: `initializer_range or 0.02` (absent, null or 0: 0.02).
    const range = json.initializer_range || 0.02;
    if (typeof range !== "number" || !(range > 0)) {
      throw new InputError(
        `${values.config}: initializer_range is ${
          JSON.stringify(range)
        }: expected a positive number (or 0 for 0.02)`,
      );
    }
    const pad = json.pad_token_id;
    if (
      pad != null &&
      !(Number.isInteger(pad) && (pad as number) >= 0 && (pad as number) < config.vocabSize)
    ) {
      throw new InputError(
        `${values.config}: pad_token_id is ${
          JSON.stringify(pad)
        }: expected a token id below vocab_size ${config.vocabSize}, or null`,
      );
    }
    const dtype = parseSaveDtype("dtype", values.dtype, saveDtypeOf(config.torchDtype));
    const seed = values.seed !== undefined ? intFlag("seed", values.seed, 0, 0xffffffff) : 42;
    const dir = values.out;
    checkOutFolder(dir, { flag: "--out", overwrite: values.overwrite ?? false });
    const tokenizerFrom = values.tokenizer && resolveModelDir(values.tokenizer);
    writeNewModel(dir, json, config, {
      seed,
      dtype,
      initializerRange: range,
      ...(pad != null ? { padTokenId: pad as number } : {}),
      tokenizerFrom,
    });
    out(
      `initialised ${
        countParameters(config).total
      } parameters (${dtype}, seed ${seed}) in ${dir}\n`,
    );
    return Promise.resolve(0);
  },
});
