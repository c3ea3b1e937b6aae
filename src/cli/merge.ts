/** `wgllama merge MODEL --adapter DIR --out OUT`: a LoRA adapter merged into a full model folder. */
import { EXIT, UsageError } from "../errors.ts";
import { openAdapter } from "../model/adapter.ts";
import { openCheckpoint } from "../model/checkpoint.ts";
import { mergeModel } from "../train/merge.ts";
import { checkOutFolder, parseSaveDtype, saveDtypeOf } from "../train/save.ts";
import { command, MODEL_HELP, modelArg } from "./args.ts";
import { err } from "./output.ts";

const USAGE =
  `Usage: wgllama merge [MODEL] --adapter DIR --out OUT [--save-dtype f32|bf16|f16] [--overwrite]

Writes MODEL with a PEFT LoRA adapter merged in (W + alpha/r·B·A on every targeted matrix, in
f32, then saved in the chosen type) as a Hugging Face folder that wgllama, transformers, vLLM and
llama.cpp's converter load like any model: what PEFT's merge_and_unload() and save_pretrained()
give.

  --adapter DIR       the adapter (adapter_config.json, adapter_model.safetensors)
  --out OUT           the new folder (one that holds a model needs --overwrite)
  --save-dtype T      f32, bf16 or f16 (default: the base's torch_dtype)
  --overwrite         replace a model in OUT

${MODEL_HELP}
`;

/** The merge command. */
export const merge = command({
  name: "merge",
  summary: "merge a LoRA adapter into a model and save it as a Hugging Face folder",
  usage: USAGE,
  flags: {
    adapter: { type: "string" },
    out: { type: "string" },
    "save-dtype": { type: "string" },
    overwrite: { type: "boolean" },
  },
  run({ values, positionals }) {
    const spec = modelArg("merge", positionals);
    if (values.adapter === undefined) throw new UsageError("merge: --adapter DIR is required");
    if (values.out === undefined) throw new UsageError("merge: --out OUT is required");
    checkOutFolder(values.out, { flag: "--out", overwrite: values.overwrite ?? false });
    const base = openCheckpoint(spec);
    try {
      const dtype = parseSaveDtype(
        "save-dtype",
        values["save-dtype"],
        saveDtypeOf(base.config.torchDtype ?? null),
      );
      const adapter = openAdapter(values.adapter, base.config);
      const merged = mergeModel(base, adapter, values.out, dtype);
      err(`wgllama: merged ${merged} matrices of ${values.adapter} into ${values.out} (${dtype})`);
      return Promise.resolve(EXIT.ok);
    } finally {
      base.close();
    }
  },
});
