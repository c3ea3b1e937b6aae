/**
 * LoRA adapters for training, PEFT's math on the fused projections: a targeted projection's
 * output gains s·(x·Aᵀ)·Bᵀ (A [r, in], B [out, r], s = alpha/r, or alpha/√r with rsLoRA) on its
 * rows of the fused q|k|v or gate|up output, the base weights frozen. With dropout p (training
 * only), x is first x ⊙ keep/(1 − p), the mask drawn from a seed and replayed in backward. From
 * the fused output's gradient dy (the projection's column slice), with xd = dropout(x):
 *   t  = xd·Aᵀ (recomputed)     dB += s·dyᵀ·t      dt = s·dy·B      dA += dtᵀ·xd
 *   dx += dropout(dt·A) (the same mask)
 * Every product is one strided gemm on slices, so nothing is copied.
 * @module
 */
import { InputError } from "../errors.ts";
import type { Bindable } from "../gpu/launcher.ts";
import type { Step, TrainOps } from "../gpu/train_ops.ts";
import type { LlamaConfig } from "../model/config.ts";

/** The projections LoRA may target, in the fused group that holds each. */
export const LORA_TARGETS = {
  q_proj: "qkv",
  k_proj: "qkv",
  v_proj: "qkv",
  o_proj: "o",
  gate_proj: "gate_up",
  up_proj: "gate_up",
  down_proj: "down",
} as const;

export type LoraTarget = keyof typeof LORA_TARGETS;
export type FusedGroup = (typeof LORA_TARGETS)[LoraTarget];

/** An adapter's shape: PEFT's r, lora_alpha, use_rslora and target_modules. */
export interface LoraSpec {
  rank: number;
  alpha: number;
  rslora: boolean;
  targets: LoraTarget[];
  /** PEFT's lora_dropout (0: none). */
  dropout?: number;
}

/** s of W + s·B·A. */
export function loraScale(spec: LoraSpec): number {
  return spec.rslora ? spec.alpha / Math.sqrt(spec.rank) : spec.alpha / spec.rank;
}

/** One adapted projection: where its rows lie in its group's fused output, its in and out. */
export interface LoraSite {
  layer: number;
  target: LoraTarget;
  group: FusedGroup;
  /** PEFT's module path, `model.layers.N.self_attn.q_proj`. */
  module: string;
  offset: number;
  out: number;
  in: number;
  /** Width of the fused output's rows. */
  width: number;
}

/** Every adapted projection of `c` under `spec`, layer by layer. */
export function loraSites(c: LlamaConfig, spec: LoraSpec): LoraSite[] {
  const { hiddenSize: D, intermediateSize: F, qDim, kvDim } = c;
  const row = qDim + 2 * kvDim;
  const where: Record<LoraTarget, [string, number, number, number, number]> = {
    // attention/mlp, offset, out, in, width
    q_proj: ["self_attn", 0, qDim, D, row],
    k_proj: ["self_attn", qDim, kvDim, D, row],
    v_proj: ["self_attn", qDim + kvDim, kvDim, D, row],
    o_proj: ["self_attn", 0, D, qDim, D],
    gate_proj: ["mlp", 0, F, D, 2 * F],
    up_proj: ["mlp", F, F, D, 2 * F],
    down_proj: ["mlp", 0, D, F, D],
  };
  const sites: LoraSite[] = [];
  for (let layer = 0; layer < c.numHiddenLayers; layer++) {
    for (const target of Object.keys(LORA_TARGETS) as LoraTarget[]) {
      if (!spec.targets.includes(target)) continue;
      const [part, offset, out, inp, width] = where[target];
      sites.push({
        layer,
        target,
        group: LORA_TARGETS[target],
        module: `model.layers.${layer}.${part}.${target}`,
        offset,
        out,
        in: inp,
        width,
      });
    }
  }
  return sites;
}

/** PEFT's names of a site's tensors in adapter_model.safetensors. */
export function peftNames(site: LoraSite): { a: string; b: string } {
  return {
    a: `base_model.model.${site.module}.lora_A.weight`,
    b: `base_model.model.${site.module}.lora_B.weight`,
  };
}

/** `--lora-targets`: a comma-separated list of the seven projections (or all-linear). */
export function parseTargets(value: string): LoraTarget[] {
  const names = value === "all-linear" ? Object.keys(LORA_TARGETS) : value.split(",");
  const bad = names.find((n) => !(n in LORA_TARGETS));
  if (bad !== undefined || names.length === 0) {
    throw new InputError(
      `--lora-targets is "${value}": expected a comma-separated list of ${
        Object.keys(LORA_TARGETS).join(", ")
      }, or all-linear`,
    );
  }
  return [...new Set(names)] as LoraTarget[];
}

/** A site's trained tensors: A [r, in] and B [out, r] (each its master, gradient and moments). */
export interface LoraTensors {
  a: { p: GPUBuffer; g: GPUBuffer };
  b: { p: GPUBuffer; g: GPUBuffer };
}

/** The launches of one site for a batch of `tokens`, with scratch t and dt [tokens, r]. */
export function loraSteps(
  train: TrainOps,
  site: LoraSite,
  w: LoraTensors,
  rank: number,
  scale: number,
  tokens: number,
  scratch: { t: GPUBuffer; dt: GPUBuffer; xd?: GPUBuffer; dxd?: GPUBuffer },
  dropout?: { p: number; seed: number },
) {
  const { t, dt } = scratch;
  const T = tokens;
  const { offset, out, width } = site;
  const inp = site.in;
  /** dropout(x) into the scratch, and the step writing it (x itself without dropout). */
  const drop = (x: Bindable): [Bindable, Step[]] => {
    if (!dropout) return [x, []];
    const xd = scratch.xd!;
    return [xd, [train.dropout(x, xd, { n: T * inp, ...dropout, accumulate: false })]];
  };
  /** t = x·Aᵀ [T, r]. */
  const down = (x: Bindable) =>
    train.gemm(x, w.a.p, t, [T, rank, inp], [inp, 1, inp, 1, rank], false);
  const run = (steps: Step[]): Step => (pass) => steps.forEach((s) => s(pass));
  return {
    /** y[:, offset : offset + out] += s·t·Bᵀ, after t = dropout(x)·Aᵀ. */
    forward(x0: Bindable, y: Bindable): Step {
      const [x, dropping] = drop(x0);
      return run([
        ...dropping,
        down(x),
        train.gemm(
          t,
          w.b.p,
          y,
          [T, out, rank],
          [rank, 1, rank, 1, width],
          true,
          [0, 0, offset],
          scale,
        ),
      ]);
    },
    /** From dy (the fused output's gradient): dB, dA added; dx += dropout(dt·A). */
    backward(x0: Bindable, dy: Bindable, dx0: Bindable): Step {
      const [x, dropping] = drop(x0);
      // With dropout, dt·A goes to a scratch first, then through the same mask into dx.
      const dx = dropout ? scratch.dxd! : dx0;
      return run([
        ...dropping,
        down(x),
        // dB[o, k] += s·Σ_t dy[t, offset + o]·t[t, k]
        train.gemm(
          dy,
          t,
          w.b.g,
          [out, rank, T],
          [1, width, 1, rank, rank],
          true,
          [offset, 0, 0],
          scale,
        ),
        // dt[t, k] = s·Σ_o dy[t, offset + o]·B[o, k]
        train.gemm(
          dy,
          w.b.p,
          dt,
          [T, rank, out],
          [width, 1, 1, rank, rank],
          false,
          [offset, 0, 0],
          scale,
        ),
        // dA[k, i] += Σ_t dt[t, k]·x[t, i]
        train.gemm(dt, x, w.a.g, [rank, inp, T], [1, rank, 1, inp, inp], true),
        // dx[t, i] += Σ_k dt[t, k]·A[k, i] (with dropout: into the scratch, then masked into dx)
        train.gemm(dt, w.a.p, dx, [T, inp, rank], [rank, 1, 1, inp, inp], !dropout),
        ...(dropout ? [train.dropout(dx, dx0, { n: T * inp, ...dropout, accumulate: true })] : []),
      ]);
    },
  };
}
