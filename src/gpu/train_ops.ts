/**
 * Launch builders of the training kernels: the products of a linear layer (forward, input and
 * weight gradients) over f32 masters, attention that keeps its log-sum-exp and its backward, the
 * norm, activation, loss and embedding gradients, and the AdamW step. Sizes are given per batch
 * (a batch's token count varies with its padding), so each call binds once for the batch it is
 * recorded for. Built on the {@linkcode Launcher} of an {@linkcode Ops}, so both share the frame.
 * @module
 */
import type { Gpu } from "./device.ts";
import { kernel } from "./kernels.ts";
import type { Bindable, Launcher } from "./launcher.ts";
import { uniformBuffer } from "./buffers.ts";

/** A prepared dispatch (or a few) for one batch. */
export type Step = (pass: GPUComputePassEncoder) => void;

/** Shape of a training attention: packed [q | k | v] rows of `row` floats. */
export interface AttentionShape {
  tokens: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  row: number;
}

/** Rows and columns of C per gemm invocation (kernels/gemm.wgsl). */
const GEMM_BLOCK = 8;
/** Elements each square_sum workgroup thread sums (kernels/square_sum.wgsl). */
const SQUARES_PER_THREAD = 16;

/** Hyperparameters of one AdamW step of one tensor. */
export interface AdamStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Bias corrections 1 − β^step. */
  bc1: number;
  bc2: number;
  /** Global-norm clipping factor (1 when not clipping). */
  gradScale: number;
}

/** Training kernels' launches, for one device. */
export class TrainOps {
  readonly #gpu: Gpu;
  readonly #k: Launcher;

  constructor(gpu: Gpu, launcher: Launcher) {
    this.#gpu = gpu;
    this.#k = launcher;
  }

  /** y (+)= x·Wᵀ: x [tokens, cols], W [rows, cols], y [tokens, rows]. */
  linear(x: Bindable, w: GPUBuffer, y: Bindable, s: LinearShape, accumulate = false): Step {
    return this.gemm(
      x,
      w,
      y,
      [s.tokens, s.rows, s.cols],
      [s.cols, 1, s.cols, 1, s.rows],
      accumulate,
    );
  }

  /** dx (+)= dy·W: dy [tokens, rows], W [rows, cols], dx [tokens, cols]. */
  linearGradInput(dy: Bindable, w: GPUBuffer, dx: Bindable, s: LinearShape, accumulate = false) {
    return this.gemm(
      dy,
      w,
      dx,
      [s.tokens, s.cols, s.rows],
      [s.rows, 1, 1, s.cols, s.cols],
      accumulate,
    );
  }

  /** dW += dyᵀ·x: dy [tokens, rows], x [tokens, cols], dW [rows, cols]. */
  linearGradWeight(dy: Bindable, x: Bindable, dw: GPUBuffer, s: LinearShape): Step {
    return this.gemm(dy, x, dw, [s.rows, s.cols, s.tokens], [1, s.rows, 1, s.cols, s.cols], true);
  }

  /** A linear layer's backward: dx = dy·W (overwritten) and dW += dyᵀ·x. */
  linearBackward(
    io: { dy: Bindable; x: Bindable; w: GPUBuffer; dx: Bindable; dw: GPUBuffer },
    s: LinearShape,
  ): Step {
    const input = this.linearGradInput(io.dy, io.w, io.dx, s);
    const weight = this.linearGradWeight(io.dy, io.x, io.dw, s);
    return (pass) => (input(pass), weight(pass));
  }

  /**
   * C[m, n] (+)= α · Σ_k A[m, k] B[n, k] with strides [a_m, a_k, b_n, b_k, c_m] and element
   * offsets [a_0, b_0, c_0].
   */
  gemm(
    a: Bindable,
    b: Bindable,
    c: Bindable,
    [m, n, k]: number[],
    strides: number[],
    accumulate: boolean,
    offsets: [number, number, number] = [0, 0, 0],
    alpha = 1,
  ): Step {
    const wg = this.#gpu.workgroups.elementwise;
    const alphaBits = new Uint32Array(Float32Array.of(alpha).buffer)[0]!;
    const params = this.#k.uniform([
      m!,
      n!,
      k!,
      ...strides,
      accumulate ? 1 : 0,
      ...offsets,
      alphaBits,
      0,
      0,
      0,
    ]);
    const l = this.#k.launch(kernel("gemm"), wg, [params, a, b, c]);
    const groups = Math.ceil((Math.ceil(m! / GEMM_BLOCK) * Math.ceil(n! / GEMM_BLOCK)) / wg);
    return (pass) => l(pass, groups);
  }

  /** Causal attention over packed rows (spans: each token's row [first, end)), saving lse. */
  attention(qkv: GPUBuffer, spans: GPUBuffer, out: GPUBuffer, lse: GPUBuffer, s: AttentionShape) {
    const l = this.#k.launch(kernel("attentionTrain"), this.#elementwise, [
      this.#attentionParams(s),
      qkv,
      spans,
      out,
      lse,
    ]);
    return this.#items(l, s.tokens * s.qHeads);
  }

  /** dq, dk, dv of {@linkcode attention} into the q, k and v columns of dqkv; delta is scratch. */
  attentionGrad(
    saved: { qkv: GPUBuffer; spans: GPUBuffer; out: GPUBuffer; lse: GPUBuffer },
    dout: GPUBuffer,
    delta: GPUBuffer,
    dqkv: GPUBuffer,
    s: AttentionShape,
  ): Step {
    const params = this.#attentionParams(s);
    const { qkv, spans, out, lse } = saved;
    const q = this.#k.launch(kernel("attentionGradQ"), this.#elementwise, [
      params,
      qkv,
      spans,
      out,
      lse,
      dout,
      delta,
      dqkv,
    ]);
    const kv = this.#k.launch(kernel("attentionGradKv"), this.#elementwise, [
      params,
      qkv,
      spans,
      lse,
      dout,
      delta,
      dqkv,
    ]);
    const [first, second] = [
      this.#items(q, s.tokens * s.qHeads),
      this.#items(kv, s.tokens * s.kvHeads),
    ];
    return (pass) => (first(pass), second(pass));
  }

  /** dx (+)= rmsnorm's input gradient; dw += its weight gradient; rstd [tokens] is scratch. */
  rmsnormGrad(
    io: {
      x: GPUBuffer;
      w: GPUBuffer;
      dy: GPUBuffer;
      dx: GPUBuffer;
      dw: GPUBuffer;
      rstd: GPUBuffer;
    },
    s: { tokens: number; dim: number; eps: number; accumulate: boolean },
  ): Step {
    const rows = this.#k.launch(kernel("rmsnormGrad"), this.#gpu.workgroups.reduce, [
      this.#k.uniform([s.dim, { f32: s.eps }, s.accumulate ? 1 : 0]),
      io.x,
      io.w,
      io.dy,
      io.dx,
      io.rstd,
    ]);
    const cols = this.#k.launch(kernel("rmsnormWeightGrad"), this.#elementwise, [
      this.#k.uniform([s.dim]),
      io.x,
      io.dy,
      io.rstd,
      io.dw,
    ]);
    const weights = this.#items(cols, s.dim);
    return (pass) => (rows(pass, s.tokens), weights(pass));
  }

  /** d[gate | up] of silu_mul from dh. */
  siluMulGrad(
    gateUp: GPUBuffer,
    dh: GPUBuffer,
    dGateUp: GPUBuffer,
    s: { tokens: number; width: number },
  ) {
    const l = this.#k.launch(kernel("siluMulGrad"), this.#elementwise, [
      this.#k.uniform([s.width]),
      gateUp,
      dh,
      dGateUp,
    ]);
    return this.#items(l, s.tokens * s.width);
  }

  /**
   * out (+)= x ⊙ keep / (1 − p) over n values, keep drawn from a counter hash of (seed, index): the
   * same seed gives the same mask (LoRA's dropout, replayed in the backward pass).
   */
  dropout(
    x: Bindable,
    out: Bindable,
    s: { n: number; p: number; seed: number; accumulate: boolean },
  ) {
    const drop = Math.min(0xffffffff, Math.floor(s.p * 2 ** 32));
    const scaleBits = new Uint32Array(Float32Array.of(1 / (1 - s.p)).buffer)[0]!;
    const l = this.#k.launch(kernel("dropout"), this.#elementwise, [
      this.#k.uniform([s.n, s.seed >>> 0, drop, scaleBits, s.accumulate ? 1 : 0, 0, 0, 0]),
      x,
      out,
    ]);
    return this.#items(l, s.n);
  }

  /** nll per row, and logits overwritten by (softmax − onehot) · scale; targets 0xffffffff ignored. */
  crossEntropyGrad(
    logits: GPUBuffer,
    targets: Bindable,
    nll: Bindable,
    s: { tokens: number; vocab: number; scale: number },
  ): Step {
    const l = this.#k.launch(kernel("crossEntropyGrad"), this.#gpu.workgroups.reduce, [
      this.#k.uniform([s.vocab, { f32: s.scale }]),
      logits,
      targets,
      nll,
    ]);
    return (pass) => l(pass, s.tokens);
  }

  /** dtable[ids[u]] += Σ dx over the tokens order[offsets[u]..offsets[u+1]]. */
  embeddingGrad(
    csr: { ids: GPUBuffer; offsets: GPUBuffer; order: GPUBuffer; count: number },
    dx: GPUBuffer,
    dtable: GPUBuffer,
    dim: number,
  ): Step {
    const l = this.#k.launch(kernel("embeddingGrad"), this.#elementwise, [
      this.#k.uniform([dim, csr.count]),
      csr.ids,
      csr.offsets,
      csr.order,
      dx,
      dtable,
    ]);
    return this.#items(l, csr.count * dim);
  }

  /**
   * One tensor's AdamW update; `set` writes the step's hyperparameters (before the submit that
   * records it). The parameter buffer is the launch's own, so `destroy` frees it.
   */
  adamw(
    t: { grad: GPUBuffer; p: GPUBuffer; m: GPUBuffer; v: GPUBuffer; n: number },
  ): { record: Step; set(h: AdamStep): void; destroy(): void } {
    const { device } = this.#gpu;
    const params = uniformBuffer(device, new Array(9).fill(0), "adamw");
    const l = this.#k.launch(kernel("adamw"), this.#elementwise, [params, t.grad, t.p, t.m, t.v]);
    const words = new ArrayBuffer(48);
    return {
      record: this.#items(l, t.n),
      set: (h) => {
        new Uint32Array(words)[0] = t.n;
        new Float32Array(words).set(
          [h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.bc1, h.bc2, h.gradScale],
          1,
        );
        device.queue.writeBuffer(params, 0, words);
      },
      destroy: () => params.destroy(),
    };
  }

  /** Partial sums of squares of x [n] into partials[first..first + squareSumSlices(n)). */
  squareSum(x: GPUBuffer, n: number, partials: GPUBuffer, first: number): Step {
    const l = this.#k.launch(kernel("squareSum"), this.#gpu.workgroups.reduce, [
      this.#k.uniform([n, first]),
      x,
      partials,
    ]);
    const slices = this.squareSumSlices(n);
    return (pass) => l(pass, slices);
  }

  /** How many partial sums {@linkcode squareSum} writes for n elements. */
  squareSumSlices(n: number): number {
    return Math.ceil(n / (this.#gpu.workgroups.reduce * SQUARES_PER_THREAD));
  }

  get #elementwise(): number {
    return this.#gpu.workgroups.elementwise;
  }

  #attentionParams(s: AttentionShape): GPUBuffer {
    if (s.headDim % 4 !== 0 || s.headDim > 128 || s.qHeads % s.kvHeads !== 0) {
      throw new Error(
        `training attention: head_dim ${s.headDim} must be a multiple of 4 ≤ 128 and kv heads must divide q heads`,
      );
    }
    return this.#k.uniform([s.qHeads, s.kvHeads, s.headDim, s.row, {
      f32: 1 / Math.sqrt(s.headDim),
    }]);
  }

  #items(l: (pass: GPUComputePassEncoder, workgroups: number) => void, items: number): Step {
    const groups = Math.ceil(items / this.#elementwise);
    return (pass) => l(pass, groups);
  }
}

/** A linear layer's sizes: `tokens` inputs of `cols` features to `rows` outputs. */
export interface LinearShape {
  tokens: number;
  rows: number;
  cols: number;
}
