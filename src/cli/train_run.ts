/**
 * The GPU part of `wgllama train`: load, train with progress and a log, evaluate, save whole
 * checkpoints; stop on a signal or a non-finite step without losing work.
 * @module
 */
import { EXIT, InputError } from "../errors.ts";
import { openGpu } from "../gpu/device.ts";
import { readJson } from "../io/hf_folder.ts";
import type { LlamaConfig } from "../model/config.ts";
import { expectedTensors } from "../model/tensors.ts";
import { perplexity } from "../model/perplexity.ts";
import { IGNORE_INDEX, type Sequence } from "../train/batch.ts";
import { loadTrainable } from "../train/load.ts";
import { readTrainingState, saveCheckpoint, type SaveDtype, writeError } from "../train/save.ts";
import type { TrainableLlama } from "../train/trainable.ts";
import { type Position, train as trainLoop, type TrainingPlan } from "../train/trainer.ts";
import type { Packing } from "../train/data.ts";
import type { PackFormat } from "../gpu/buffers.ts";
import { loraSites, type LoraSpec, peftNames } from "../train/lora.ts";
import { saveAdapterCheckpoint } from "../train/save_adapter.ts";
import { err, out } from "./output.ts";
import { type ProgressOptions, QUIET_SECONDS } from "./progress.ts";

/** Everything a run needs besides the data, as trainer_state.json keeps it (with the position). */
export interface RunSettings {
  model: string;
  data: string;
  seqLen: number;
  /** How plain text is packed (a run saved before it existed packed "files"). */
  packing: Packing;
  chat: boolean;
  saveDtype: SaveDtype;
  /** Passes over the data when --steps is not given. */
  epochs: number;
  plan: TrainingPlan;
  /** LoRA: only these adapters train (the base frozen) and the run saves a PEFT adapter. */
  lora?: LoraSpec;
  /** LoRA's frozen base packed (QLoRA): `--weights`. */
  base?: PackFormat;
}

/** The signals that stop a run after its current step, saving first, and their exit codes. */
const STOP_SIGNALS = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated } as const;

/** The GPU part of a run: load, train, evaluate, save. Returns the exit code. */
export async function trainOnGpu(
  modelDir: string,
  settings: RunSettings,
  o: {
    resumed: ReturnType<typeof readTrainingState> | undefined;
    resumeDir: string | undefined;
    checkpointLayers: boolean;
    skipNonFinite: boolean;
    outDir: string;
    config: LlamaConfig;
    data: Sequence[];
    evalIds: number[] | undefined;
    evalEvery: number;
    saveEvery: number;
    writeLog: (o: Record<string, unknown>) => void;
    onSaved: () => void;
    /** The adapter a LoRA run starts from (PEFT names; a resumed run's, or --adapter's). */
    loraInit?: ReadonlyMap<string, Float32Array>;
  },
): Promise<number> {
  const { plan } = settings;
  const gpu = await openGpu();
  let model: TrainableLlama | undefined;
  let stopSignal: keyof typeof STOP_SIGNALS | undefined;
  const listeners = Object.keys(STOP_SIGNALS).map((name) => {
    const signal = name as keyof typeof STOP_SIGNALS;
    const listener = () => {
      if (stopSignal) Deno.exit(STOP_SIGNALS[signal]);
      stopSignal = signal;
      err(`\nwgllama train: ${signal}: stopping after this step to save (again: quit at once)`);
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  try {
    model = loadTrainable(gpu, modelDir, {
      checkpointLayers: o.checkpointLayers,
      ...(settings.lora
        ? {
          lora: {
            spec: settings.lora,
            ...(o.loraInit ? { init: o.loraInit } : {}),
            ...(settings.base ? { base: settings.base } : {}),
            seed: plan.seed,
          },
        }
        : {}),
    }).model;
    const m = model;
    let start: Position = { step: 0, epoch: 0, cursor: 0 };
    if (o.resumed) {
      start = positionOf(o.resumed.state, o.resumeDir!);
      const adamSteps = o.resumed.state.optimizer_step;
      m.loadOptimizerState(
        o.resumed.optimizer,
        Number.isInteger(adamSteps) ? adamSteps as number : start.step,
        o.resumeDir!,
      );
    }
    const sourceConfig = readJson(`${modelDir}/config.json`) as Record<string, unknown>;
    let savedAt = start.step;
    const save = async (at: Position) => {
      const weights = await m.tensors();
      const training = {
        optimizer: await m.optimizerState(),
        state: { ...settings, position: at, optimizer_step: m.step },
      };
      if (settings.lora) {
        const shapes = new Map<string, { shape: number[]; data: Float32Array }>();
        for (const site of loraSites(o.config, settings.lora)) {
          const { a, b } = peftNames(site);
          shapes.set(a, { shape: [settings.lora.rank, site.in], data: weights.get(a)! });
          shapes.set(b, { shape: [site.out, settings.lora.rank], data: weights.get(b)! });
        }
        saveAdapterCheckpoint(o.outDir, {
          spec: settings.lora,
          base: settings.model,
          tensors: shapes,
        }, training);
        savedAt = at.step;
        return o.onSaved();
      }
      const tensors = expectedTensors(o.config).map((t) => ({
        name: t.name,
        shape: [...t.shape],
        data: weights.get(t.name)!,
      }));
      saveCheckpoint(o.outDir, {
        from: modelDir,
        config: sourceConfig,
        tensors,
        dtype: settings.saveDtype,
      }, training);
      savedAt = at.step;
      o.onSaved();
    };
    const evaluate = async (step: number) => {
      if (!o.evalIds) return undefined;
      const ctx = Math.min(settings.seqLen, o.evalIds.length);
      const r = await perplexity(m, o.evalIds, { ctx, stride: ctx });
      err(`step ${step}: eval loss ${r.nll.toFixed(4)}, perplexity ${r.ppl.toFixed(3)}`);
      o.writeLog({ step, eval_loss: r.nll, eval_ppl: r.ppl, eval_tokens: r.tokens });
      return r;
    };
    const t0 = performance.now();
    let tokensRun = 0;
    let lastLoss = NaN;
    const report = reporter(plan.totalSteps);
    const end = await trainLoop(m, o.data, plan, start, {
      onStep: async (r, at) => {
        tokensRun += r.tokens;
        o.writeLog({
          step: r.step,
          loss: r.loss,
          grad_norm: r.gradNorm,
          lr: r.lr,
          tokens: r.tokens,
          tokens_per_second: r.tokens / Math.max(r.seconds, 1e-9),
        });
        if (!r.applied) {
          if (o.skipNonFinite) {
            err(`wgllama: warning: step ${r.step}: ${nonFinite(r)}: skipped (--skip-nonfinite)`);
          }
          return;
        }
        lastLoss = r.loss;
        report(r.step, r.loss, tokensRun / Math.max((performance.now() - t0) / 1000, 1e-9));
        const more = r.step < plan.totalSteps && !stopSignal;
        if (more && o.evalEvery && r.step % o.evalEvery === 0) await evaluate(r.step);
        if (more && o.saveEvery && r.step % o.saveEvery === 0) await save(at);
      },
      shouldStop: () => stopSignal !== undefined,
    }, { skipNonFinite: o.skipNonFinite });
    if (end.nonFinite) {
      const bad = end.nonFinite;
      if (end.at.step > savedAt) await save(end.at);
      const kept = savedAt > 0 || o.resumed
        ? `the last finite state (step ${savedAt}) is in ${o.outDir}`
        : "nothing was saved";
      throw new InputError(
        `step ${bad.step}: ${
          nonFinite(bad)
        }: training stopped, ${kept}; lower --lr, clip with --max-grad-norm, or pass --skip-nonfinite`,
      );
    }
    await save(end.at);
    const final = stopSignal ? undefined : await evaluate(end.at.step);
    const seconds = (performance.now() - t0) / 1000;
    out(
      `trained ${end.at.step - start.step} steps (to step ${end.at.step}), last loss ${
        lastLoss.toFixed(4)
      }${final ? `, eval perplexity ${final.ppl.toFixed(3)}` : ""}, ${
        (tokensRun / Math.max(seconds, 1e-9)).toFixed(0)
      } tokens/s; saved ${o.outDir}\n`,
    );
    return stopSignal ? STOP_SIGNALS[stopSignal] : EXIT.ok;
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    model?.destroy();
    gpu.device.destroy();
  }
}

/** "the loss is NaN", "the gradient norm is Infinity", … */
function nonFinite(r: { loss: number; gradNorm: number }): string {
  return Number.isFinite(r.loss) ? `the gradient norm is ${r.gradNorm}` : `the loss is ${r.loss}`;
}

export function positionOf(state: Record<string, unknown>, dir: string): Position {
  const p = state.position as Position | undefined;
  if (!p || ![p.step, p.epoch, p.cursor].every(Number.isInteger)) {
    throw new InputError(`${dir}/trainer_state.json: "position" is missing or malformed`);
  }
  return p;
}

/**
 * Progress on stderr: a redrawn line on a terminal; else a line every ~5% of the run, and at least
 * every {@linkcode QUIET_SECONDS} so a slow run never looks hung.
 */
export function reporter(
  total: number,
  options: ProgressOptions = {},
): (step: number, loss: number, tokensPerSecond: number) => void {
  const tty = options.terminal ?? Deno.stderr.isTerminal();
  const now = options.now ?? (() => performance.now());
  const write = options.write ??
    ((text: string) => void Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const every = Math.max(1, Math.floor(total / 20));
  const t0 = now();
  let lastLine = t0;
  let first: number | undefined;
  return (step, loss, tokensPerSecond) => {
    first ??= step - 1;
    const t = now();
    const elapsed = (t - t0) / 1000;
    const eta = (elapsed / (step - first)) * (total - step);
    const line = `step ${step}/${total}  loss ${loss.toFixed(4)}  ${
      tokensPerSecond.toFixed(0)
    } tokens/s  ETA ${formatSeconds(eta)}`;
    if (tty) write(`\r${line}${step >= total ? "\n" : ""}`);
    else if (step % every === 0 || step >= total || t - lastLine >= QUIET_SECONDS * 1000) {
      lastLine = t;
      write(line + "\n");
    }
  };
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m ? `${m}m${Math.round(s % 60).toString().padStart(2, "0")}s` : `${Math.round(s)}s`;
}

/** Labels a sequence counts (HF's defaults: the ids where the mask is 1). */
export function countedLabels(s: Sequence): number {
  if (s.labels) return s.labels.filter((l) => l !== IGNORE_INDEX).length;
  return s.attentionMask ? s.attentionMask.filter((x) => x === 1).length : s.inputIds.length;
}

/**
 * Cuts a resumed run's log back to the checkpoint's step: lines of steps after it (written by
 * the run that was killed after saving) would come twice, and a torn last line is dropped.
 */
export function cutLog(path: string, step: number): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new InputError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
  const kept: string[] = [];
  for (const line of text.split("\n")) {
    try {
      const o = JSON.parse(line);
      if (typeof o?.step === "number" && o.step <= step) kept.push(line);
    } catch { /* a torn or empty line */ }
  }
  try {
    Deno.writeTextFileSync(`${path}.tmp`, kept.map((l) => l + "\n").join(""));
    Deno.renameSync(`${path}.tmp`, path);
  } catch (e) {
    throw writeError(e, path);
  }
}
