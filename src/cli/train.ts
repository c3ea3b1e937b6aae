/** `wgllama train MODEL --data FILE|DIR --out DIR`: trains a model on the GPU, as HF trains it. */
import { EXIT, InputError, UsageError } from "../errors.ts";
import { pathIs, readJson, resolveModelDir } from "../io/hf_folder.ts";
import { TensorStore, toF32 } from "../io/safetensors.ts";
import { openAdapter } from "../model/adapter.ts";
import { openCheckpoint } from "../model/checkpoint.ts";
import type { LlamaConfig } from "../model/config.ts";
import { countParameters } from "../model/tensors.ts";
import { ChatTemplate } from "../text/chat_template.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { packBatch } from "../train/batch.ts";
import { type Packing, readTrainingData } from "../train/data.ts";
import { type LoraSpec, type LoraTarget, parseTargets } from "../train/lora.ts";
import {
  checkOutFolder,
  parseSaveDtype,
  readTrainingState,
  saveDtypeOf,
  writeError,
} from "../train/save.ts";
import type { ScheduleName } from "../train/schedule.ts";
import { trainingMemory } from "../train/trainable.ts";
import { stepsForEpochs } from "../train/trainer.ts";
import { command, intFlag, MODEL_HELP, numberFlag } from "./args.ts";
import { weightsFlag } from "./session.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import { err, openOutput, out, writeOutput } from "./output.ts";
import { countedLabels, cutLog, positionOf, type RunSettings, trainOnGpu } from "./train_run.ts";

const USAGE = `Usage: wgllama train MODEL --data FILE|DIR --out DIR [options]

Trains every weight of MODEL on the GPU as Hugging Face's LlamaForCausalLM trains (causal-LM
cross-entropy, backpropagation, torch.optim.AdamW with decoupled weight decay on 2-D weights,
global-norm clipping), on f32 master weights, and writes a Hugging Face folder to --out that
wgllama and transformers load. Progress goes to stderr; a summary line to stdout.

Data (--data: a file, or a folder whose files are read in name order):
  plain text (any file but .jsonl)   as Hugging Face's run_clm.py: each line a document
        (tokenizer(line), so with its BOS), all concatenated and cut into --seq-len blocks, the
        remainder dropped (group_texts); --pack files: each file one document, the short last
        block kept
  .jsonl, one object a line:
    {"input_ids": [...], "attention_mask": [...], "labels": [...]}   pre-tokenized, one sequence
        each (mask and labels optional; labels default to the ids, -100 where the mask is 0);
        positions are indices in the line, tokens with mask 0 are left out (so, unlike Hugging
        Face, a left-padded row's first real token is not scored from the last pad: its loss is
        the unpadded row's; Hugging Face's depends on its attention implementation's handling
        of fully masked rows)
    {"text": "..."}                  packed as plain text
    {"messages": [{"role", "content"}, ...]}   rendered through the chat template; with --chat
        the loss counts only the assistant messages' tokens (and each one's end-of-turn token)

Options (defaults are Hugging Face Trainer's):
  --batch-size N      sequences per micro-batch (default 8)
  --accumulate K      micro-batches per optimizer step: gradient accumulation (default 1); the
                      loss is the mean over every label counted in the step
  --steps N           optimizer steps (default: --epochs passes over the data)
  --epochs N          passes over the data (default 1)
  --seq-len N         tokens per sequence (default: the model's context, at most 512)
  --pack lines|files  how plain text is packed (default lines: run_clm's recipe)
  --lora R            LoRA: train only rank-R adapters (A [R, in], B [out, R]) on the frozen base
                      and save a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)
  --lora-alpha A      LoRA's alpha: the adapters add (A/R)·B·A·x (default 8, PEFT's)
  --lora-targets L    projections to adapt: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,
                      down_proj, or all-linear (default q_proj,v_proj, PEFT's)
  --lora-dropout P    dropout on each adapter's input while training (default 0, PEFT's): a
                      mask drawn from --seed, the step and the projection, replayed in backward
  --adapter DIR       start LoRA from this PEFT adapter (its r, alpha and targets)
  --weights F         bf16 | q8 | q5 | q4: pack the frozen base's layer matrices (QLoRA; with
                      --lora or --adapter): each layer is read back to f32 for its own forward
                      and backward only (default: f32)
  --lr X              peak learning rate (default 5e-5)
  --betas B1,B2       AdamW betas (default 0.9,0.999)
  --eps X             AdamW epsilon (default 1e-8)
  --weight-decay X    decoupled weight decay of 2-D weights (default 0)
  --max-grad-norm X   clip the global gradient norm to X; 0: no clipping (default 1)
  --schedule S        constant | linear | cosine (default linear: to 0 at the last step)
  --warmup N          steps of linear warmup from 0 (default 0)
  --no-shuffle        take the sequences in file order (default: a seeded shuffle per pass)
  --seed N            the shuffle's seed (default 42)
  --chat              chat data: the loss counts only the assistant's replies (with their
                      end-of-turn tokens)
  --save-dtype T      f32 | bf16 | f16: the saved weights' type (default: the model's)
  --save-every N      also save to --out every N steps
  --eval FILE         a text to measure loss and perplexity on (the perplexity command's recipe,
                      windows of --seq-len), every --eval-every steps and at the end
  --eval-every N      (default: only at the end)
  --log FILE          one JSON line per step: step (from 1), loss (before the update), grad_norm
                      (before clipping), lr, tokens, tokens_per_second; eval lines add eval_loss,
                      eval_ppl
  --resume DIR        continue a run saved in DIR (weights, moments, step, data order): its
                      settings are kept; --steps may extend it; the --log file is cut back to
                      the checkpoint's step first
  --overwrite         let --out replace the model a folder already holds (refused without it;
                      the built-in model's folder is never written)
  --skip-nonfinite    a step whose loss or gradient norm is NaN or infinite changes nothing and
                      the run goes on (default: the run stops there, see below)
  --checkpoint-layers keep only each layer's input and recompute the rest before its backward:
                      activations of one layer instead of all, for about a third more compute
  --dry-run           print the GPU memory the run needs (JSON) and exit

The --out folder is also a checkpoint: it holds the f32 masters, the AdamW moments
(optimizer.safetensors) and trainer_state.json, so --resume continues from it exactly. Each save
writes every file to a temporary name and renames them into place only when all are complete, so
a failure (a full disk: one line naming the file and the cause, exit 1) leaves the previous
checkpoint whole; a sharded model's shards and index are removed once the new weights are in
place. Ctrl-C (SIGINT) or SIGTERM saves there before exiting (status 130 or 143). A step whose
loss or gradient norm is not finite stops the run with exit 1, naming the step; the last finite
state is saved, never NaN weights.

${MODEL_HELP}
`;

const FLAGS = {
  data: { type: "string" },
  out: { type: "string" },
  "batch-size": { type: "string" },
  accumulate: { type: "string" },
  steps: { type: "string" },
  epochs: { type: "string" },
  "seq-len": { type: "string" },
  pack: { type: "string" },
  lora: { type: "string" },
  "lora-alpha": { type: "string" },
  "lora-targets": { type: "string" },
  "lora-dropout": { type: "string" },
  adapter: { type: "string" },
  weights: { type: "string" },
  lr: { type: "string" },
  betas: { type: "string" },
  eps: { type: "string" },
  "weight-decay": { type: "string" },
  "max-grad-norm": { type: "string" },
  schedule: { type: "string" },
  warmup: { type: "string" },
  "no-shuffle": { type: "boolean" },
  seed: { type: "string" },
  chat: { type: "boolean" },
  "save-dtype": { type: "string" },
  "save-every": { type: "string" },
  eval: { type: "string" },
  "eval-every": { type: "string" },
  log: { type: "string" },
  resume: { type: "string" },
  overwrite: { type: "boolean" },
  "skip-nonfinite": { type: "boolean" },
  "dry-run": { type: "boolean" },
  "checkpoint-layers": { type: "boolean" },
} as const;

/** Flags a resumed run takes from its saved state. */
const PLAN_FLAGS = [
  "batch-size",
  "accumulate",
  "epochs",
  "seq-len",
  "pack",
  "lora",
  "lora-alpha",
  "lora-targets",
  "lora-dropout",
  "adapter",
  "weights",
  "lr",
  "betas",
  "eps",
  "weight-decay",
  "max-grad-norm",
  "schedule",
  "warmup",
  "no-shuffle",
  "seed",
  "chat",
  "save-dtype",
] as const;

type Values = {
  [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]["type"] extends "boolean" ? boolean : string;
};

/** The train command. */
export const train = command({
  name: "train",
  summary: "train a model on text or token data (AdamW, on the GPU) and save a Hugging Face folder",
  usage: USAGE,
  flags: FLAGS,
  async run({ values, positionals }) {
    const v = values as Values;
    if (positionals.length > 1) {
      throw new UsageError(
        `train: expected one MODEL argument, got ${positionals.length} (see wgllama train --help)`,
      );
    }
    const resumed = v.resume !== undefined ? readTrainingState(v.resume) : undefined;
    const settings = resumed
      ? resumedSettings(v, resumed.state, v.resume!)
      : newSettings(v, positionals[0]);
    const outDir = v.out ?? v.resume;
    if (!outDir) throw new UsageError("train: --out DIR is required (see wgllama train --help)");
    // A resumed run loads its weights from the checkpoint; tokenizer and template travel with it.
    // A LoRA run's base is always its model; its adapter comes from the checkpoint or --adapter.
    const modelDir = resumed && !settings.lora ? v.resume! : settings.model;
    const loraInit = settings.lora
      ? (resumed ? readAdapterTensors(v.resume!) : v.adapter && readAdapterTensors(v.adapter))
      : undefined;
    const ckpt = openCheckpoint(modelDir, { weightsOptional: true });
    const config = ckpt.config;
    ckpt.close();
    const tokenizer = TextTokenizer.load(modelDir);
    const template = tokenizer && ChatTemplate.load(modelDir, tokenizer);
    const data = readTrainingData(settings.data, { tokenizer, template }, {
      seqLen: settings.seqLen,
      chat: settings.chat,
      packing: settings.packing,
    });
    packBatch(data, config.vocabSize, settings.data); // every sequence checked before the GPU starts
    const plan = settings.plan;
    plan.totalSteps = v.steps !== undefined
      ? intFlag("steps", v.steps, 1)
      : resumed
      ? plan.totalSteps
      : stepsForEpochs(data.length, plan, settings.epochs);
    const tokens = plan.batchSize * settings.seqLen;
    if (v["dry-run"]) {
      const m = trainingMemory(
        config,
        tokens,
        v["checkpoint-layers"] ?? false,
        settings.lora,
        settings.base,
      );
      out(
        JSON.stringify({
          parameters: countParameters(config).total,
          state_bytes: m.state,
          activation_bytes: m.activations,
          total_bytes: m.total,
          tokens_per_micro_batch: tokens,
          sequences: data.length,
          steps: plan.totalSteps,
        }) + "\n",
      );
      return EXIT.ok;
    }
    // A folder that would lose a model, or cannot be written, is refused now, not after training.
    checkOutFolder(outDir, { flag: "--out", overwrite: v.overwrite ?? false, resuming: v.resume });
    const created = createdFolders(outDir);
    try {
      Deno.mkdirSync(outDir, { recursive: true });
    } catch (e) {
      throw writeError(e, outDir);
    }
    let saved = false;
    let log: Deno.FsFile | undefined;
    try {
      if (data.every((s) => countedLabels(s) === 0)) {
        err(
          `wgllama: warning: ${settings.data}: every label is -100: no token is counted, so the loss is 0 and nothing is learned`,
        );
      }
      const evalIds = v.eval !== undefined ? evalTokens(v.eval, tokenizer) : undefined;
      const evalEvery = v["eval-every"] !== undefined
        ? intFlag("eval-every", v["eval-every"], 1)
        : 0;
      const saveEvery = v["save-every"] !== undefined
        ? intFlag("save-every", v["save-every"], 1)
        : 0;
      if (resumed && v.log !== undefined) {
        cutLog(v.log, positionOf(resumed.state, v.resume!).step);
      }
      log = v.log !== undefined ? openOutput(v.log, { truncate: !resumed }) : undefined;
      const logFile = log;
      const encoder = new TextEncoder();
      const writeLog = (o: Record<string, unknown>) =>
        logFile && writeOutput(logFile, v.log!, encoder.encode(JSON.stringify(o) + "\n"));
      const result = await trainOnGpu(modelDir, settings, {
        resumed,
        resumeDir: v.resume,
        checkpointLayers: v["checkpoint-layers"] ?? false,
        skipNonFinite: v["skip-nonfinite"] ?? false,
        outDir,
        config,
        data,
        evalIds,
        evalEvery,
        saveEvery,
        writeLog,
        onSaved: () => (saved = true),
        ...(loraInit ? { loraInit } : {}),
      });
      return result;
    } finally {
      log?.close();
      // A run that never saved leaves no folder behind (only empty ones it made are removed).
      if (!saved) {
        try {
          for (const folder of created) Deno.removeSync(folder);
        } catch { /* not empty, or gone */ }
      }
    }
  },
});

/** The folders `mkdir -p dir` would make, deepest first. */
function createdFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir.replace(/\/+$/, ""); d && !pathIs(d, "dir"); d = d.replace(/\/?[^/]*$/, "")) {
    missing.push(d);
  }
  return missing;
}

/** Settings of a new run from its flags. */
function newSettings(v: Values, model: string | undefined): RunSettings {
  if (!model) throw new UsageError("train: MODEL is required (see wgllama train --help)");
  if (v.data === undefined) {
    throw new UsageError("train: --data FILE|DIR is required (see wgllama train --help)");
  }
  const dir = resolveModelDir(model);
  const ckpt = openCheckpoint(dir, { weightsOptional: true });
  const { config } = ckpt;
  ckpt.close();
  const betas = (v.betas ?? "0.9,0.999").split(",");
  if (betas.length !== 2) throw new UsageError(`--betas is "${v.betas}": expected B1,B2`);
  const schedule = (v.schedule ?? "linear") as ScheduleName;
  if (!["constant", "linear", "cosine"].includes(schedule)) {
    throw new UsageError(`--schedule is "${v.schedule}": expected constant, linear or cosine`);
  }
  const saveDtype = parseSaveDtype("save-dtype", v["save-dtype"], saveDtypeOf(config.torchDtype));
  const num = (flag: keyof Values, fallback: number, max: number) => {
    const value = v[flag];
    return typeof value === "string" ? numberFlag(flag, value, 0, max) : fallback;
  };
  const maxGradNorm = num("max-grad-norm", 1, 1e9);
  const lora = loraFlags(v, config);
  const base = weightsFlag(v.weights);
  if (base && !lora.lora) {
    throw new UsageError(
      "train: --weights packs a frozen base: it needs --lora R or --adapter DIR (full training keeps f32 masters)",
    );
  }
  return {
    model: dir,
    data: v.data,
    seqLen: v["seq-len"] !== undefined
      ? intFlag("seq-len", v["seq-len"], 2, config.maxPositionEmbeddings)
      : Math.min(512, config.maxPositionEmbeddings),
    chat: v.chat ?? false,
    packing: packFlag(v.pack),
    ...lora,
    ...(base ? { base } : {}),
    saveDtype,
    epochs: v.epochs !== undefined ? intFlag("epochs", v.epochs, 1) : 1,
    plan: {
      batchSize: v["batch-size"] !== undefined ? intFlag("batch-size", v["batch-size"], 1) : 8,
      accumulate: v.accumulate !== undefined ? intFlag("accumulate", v.accumulate, 1) : 1,
      totalSteps: 0,
      shuffle: !v["no-shuffle"],
      seed: v.seed !== undefined ? intFlag("seed", v.seed, 0, 0xffffffff) : 42,
      schedule,
      warmup: v.warmup !== undefined ? intFlag("warmup", v.warmup, 0) : 0,
      optimizer: {
        lr: num("lr", 5e-5, 10),
        beta1: numberFlag("betas", betas[0]!, 0, 0.999999),
        beta2: numberFlag("betas", betas[1]!, 0, 0.999999),
        eps: num("eps", 1e-8, 1),
        weightDecay: num("weight-decay", 0, 10),
        maxGradNorm: maxGradNorm === 0 ? Infinity : maxGradNorm,
      },
    },
  };
}

/** Settings of a resumed run: its saved ones; the flags that would change them are refused. */
function resumedSettings(v: Values, state: Record<string, unknown>, dir: string): RunSettings {
  const changed = PLAN_FLAGS.filter((f) => v[f] !== undefined);
  if (changed.length) {
    throw new UsageError(
      `train --resume keeps the run's settings: drop --${
        changed.join(", --")
      } (only --steps, --data, --out, --eval, --log, --checkpoint-layers may change)`,
    );
  }
  const s = state as unknown as RunSettings;
  if (
    typeof s.plan?.optimizer !== "object" || s.plan.optimizer === null ||
    typeof s.seqLen !== "number" || typeof s.data !== "string"
  ) {
    throw new InputError(`${dir}/trainer_state.json: not the state of a wgllama train run`);
  }
  if (s.plan.optimizer.maxGradNorm === null) s.plan.optimizer.maxGradNorm = Infinity; // JSON
  // Saved before --pack existed: text was packed a file at a time, and must be again.
  return { ...s, packing: s.packing ?? "files", data: v.data ?? s.data };
}

/**
 * The LoRA of a new run: `--lora R` with `--lora-alpha`, `--lora-targets` (PEFT's defaults: alpha
 * 8, q_proj,v_proj), or `--adapter INIT_DIR`, whose adapter_config.json gives them. None: full.
 */
function loraFlags(v: Values, config: LlamaConfig): { lora?: LoraSpec } {
  const dropout = v["lora-dropout"] !== undefined
    ? numberFlag("lora-dropout", v["lora-dropout"], 0, 0.99)
    : undefined;
  if (v.adapter !== undefined) {
    if (
      v.lora !== undefined || v["lora-alpha"] !== undefined || v["lora-targets"] !== undefined ||
      dropout !== undefined
    ) {
      throw new UsageError(
        "train: --adapter gives r, lora_alpha, lora_dropout and target_modules (from its adapter_config.json): drop --lora, --lora-alpha, --lora-dropout, --lora-targets",
      );
    }
    openAdapter(v.adapter, config); // checked whole before the run starts
    const json = readJson(`${v.adapter}/adapter_config.json`) as Record<string, unknown>;
    const targets = json.target_modules === "all-linear"
      ? parseTargets("all-linear")
      : json.target_modules as LoraTarget[];
    const p = json.lora_dropout;
    return {
      lora: {
        rank: json.r as number,
        alpha: (json.lora_alpha ?? 8) as number,
        rslora: json.use_rslora === true,
        targets,
        dropout: typeof p === "number" && p >= 0 && p < 1 ? p : 0,
      },
    };
  }
  if (v.lora === undefined) {
    if (v["lora-alpha"] !== undefined || v["lora-targets"] !== undefined || dropout !== undefined) {
      throw new UsageError("train: --lora-alpha, --lora-dropout and --lora-targets need --lora R");
    }
    return {};
  }
  return {
    lora: {
      rank: intFlag("lora", v.lora, 1, 4096),
      alpha: v["lora-alpha"] !== undefined ? numberFlag("lora-alpha", v["lora-alpha"], 0, 1e6) : 8,
      rslora: false,
      targets: parseTargets(v["lora-targets"] ?? "q_proj,v_proj"),
      dropout: dropout ?? 0,
    },
  };
}

/** An adapter folder's A and B tensors, f32, by PEFT name. */
function readAdapterTensors(dir: string): Map<string, Float32Array> {
  const store = TensorStore.openFile(`${dir}/adapter_model.safetensors`, { read: true });
  try {
    return new Map(
      [...store.tensors].map(([name, t]) => [name, toF32(store.finiteBytes(t), t.dtype)]),
    );
  } finally {
    store.close();
  }
}

/** `--pack`: how plain text becomes blocks. */
function packFlag(value: string | undefined): Packing {
  if (value === undefined || value === "lines" || value === "files") return value ?? "lines";
  throw new UsageError(`--pack is "${value}": expected lines or files`);
}

function evalTokens(path: string, tokenizer: TextTokenizer | undefined): number[] {
  if (!tokenizer) {
    throw new InputError(`--eval ${path}: the model has no tokenizer.json to read text`);
  }
  const ids = tokenizer.encode(decodeUtf8(readBytes(path), path), { postProcess: true });
  if (ids.length < 2) throw new InputError(`--eval ${path}: ${ids.length} token, need at least 2`);
  return ids;
}
