/**
 * A Llama held for training: f32 master weights, their gradients and AdamW moments on the GPU,
 * and one step of Hugging Face's `LlamaForCausalLM` training — forward keeping each layer's
 * activations, the mean cross-entropy, backward through layers N…1, global-norm clipping and
 * `torch.optim.AdamW`. q|k|v and gate|up are held fused (one matrix each, rows in HF's order),
 * as the inference kernels read them; {@linkcode TENSOR_VIEWS} maps them back to HF's tensors.
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import {
  matrixBytes,
  type PackFormat,
  QUANT_BYTES,
  readBuffer,
  ROW_ALIGN,
  storageBuffer,
  uploadArray,
} from "../gpu/buffers.ts";
import { Ops } from "../gpu/ops.ts";
import { type AdamStep, type Step, TrainOps } from "../gpu/train_ops.ts";
import type { Bindable } from "../gpu/launcher.ts";
import type { LlamaConfig } from "../model/config.ts";
import { ropeTables } from "../model/rope.ts";
import { idGroups, IGNORED, type PackedBatch } from "./batch.ts";
import {
  type FusedGroup,
  loraScale,
  type LoraSite,
  loraSites,
  type LoraSpec,
  loraSteps,
  peftNames,
} from "./lora.ts";
import { mulberry32 } from "./random.ts";
import { type LayerMatrix, packedAs, PackedBase, SLICE_BYTES } from "./packed_base.ts";

/** LoRA training: the base frozen, these adapters trained (PEFT's tensors by name, else new). */
export interface LoraTraining {
  spec: LoraSpec;
  /** Starting A and B by PEFT name; absent: A Kaiming-uniform (a = √5), B zero, as PEFT. */
  init?: ReadonlyMap<string, Float32Array>;
  seed?: number;
  /**
   * Pack the frozen base (QLoRA): its matrices (lm_head and the embedding in q8 under q5/q4, as
   * inference keeps them) are read back as f32 a slice of rows at a time, just before each
   * product. The norms stay f32.
   */
  base?: PackFormat;
  /** Bytes of rows read back at a time (tests make it small). @default 64 MiB */
  sliceBytes?: number;
}

/** Two numbers hashed into a seed. */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  return Math.imul(h, 0x27d4eb2f) >>> 0;
}

/** AdamW and clipping settings, as torch.optim.AdamW and clip_grad_norm_ take them. */
export interface OptimizerSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global L2 norm above which gradients are scaled down; Infinity: no clipping. */
  maxGradNorm: number;
}

/** What one optimizer step measured. */
export interface StepResult {
  /** Mean loss over the step's counted labels, before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Labels counted and tokens run. */
  counted: number;
  tokens: number;
  /** False when the loss or the norm was not finite: then no weight or moment changed. */
  applied: boolean;
}

/** One trained tensor: fused rows of the model's parameters. */
interface Param {
  name: string;
  rows: number;
  cols: number;
  /** Decayed by AdamW (2-D weights; not norms). */
  decay: boolean;
  p: GPUBuffer;
  g: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
}

/** A trained tensor's optimizer state, by the names its checkpoint file gives them. */
function stateOf(p: Param): [string, GPUBuffer][] {
  return [["master", p.p], ["exp_avg", p.m], ["exp_avg_sq", p.v]];
}

/** An HF tensor as rows [first, first + rows) of a trained tensor. */
export interface TensorView {
  name: string;
  param: string;
  first: number;
  rows: number;
  cols: number;
}

/** The HF tensors of `c` and where each lies in the trained tensors. */
export function tensorViews(c: LlamaConfig): TensorView[] {
  const { hiddenSize: D, intermediateSize: F, vocabSize: V, qDim, kvDim } = c;
  const views: TensorView[] = [view("model.embed_tokens.weight", "embed", 0, V, D)];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    views.push(
      view(`${p}input_layernorm.weight`, `${l}.attn_norm`, 0, 1, D),
      view(`${p}self_attn.q_proj.weight`, `${l}.qkv`, 0, qDim, D),
      view(`${p}self_attn.k_proj.weight`, `${l}.qkv`, qDim, kvDim, D),
      view(`${p}self_attn.v_proj.weight`, `${l}.qkv`, qDim + kvDim, kvDim, D),
      view(`${p}self_attn.o_proj.weight`, `${l}.o`, 0, D, qDim),
      view(`${p}post_attention_layernorm.weight`, `${l}.mlp_norm`, 0, 1, D),
      view(`${p}mlp.gate_proj.weight`, `${l}.gate_up`, 0, F, D),
      view(`${p}mlp.up_proj.weight`, `${l}.gate_up`, F, F, D),
      view(`${p}mlp.down_proj.weight`, `${l}.down`, 0, D, F),
    );
  }
  views.push(view("model.norm.weight", "norm", 0, 1, D));
  if (!c.tieWordEmbeddings) views.push(view("lm_head.weight", "lm_head", 0, V, D));
  return views;

  function view(name: string, param: string, first: number, rows: number, cols: number) {
    return { name, param, first, rows, cols };
  }
}

/** Buffers one batch's forward and backward use, sized for its token count. */
interface Activations {
  tokens: number;
  ids: GPUBuffer;
  seq: GPUBuffer;
  spans: GPUBuffer;
  targets: GPUBuffer;
  csr: { ids: GPUBuffer; offsets: GPUBuffer; order: GPUBuffer; count: number };
  /** Residual stream: x[l] enters layer l, x[l] after attention is mid[l]; x[N] leaves. */
  x: GPUBuffer[];
  mid: GPUBuffer[];
  h1: GPUBuffer[];
  qkv: GPUBuffer[];
  attn: GPUBuffer[];
  lse: GPUBuffer[];
  h2: GPUBuffer[];
  gateUp: GPUBuffer[];
  act: GPUBuffer[];
  hf: GPUBuffer;
  logits: GPUBuffer;
  nll: GPUBuffer;
  // Gradient scratch, reused by every layer.
  dx: GPUBuffer;
  dh: GPUBuffer;
  dqkv: GPUBuffer;
  dattn: GPUBuffer;
  delta: GPUBuffer;
  dGateUp: GPUBuffer;
  dact: GPUBuffer;
  rstd: GPUBuffer;
  /** LoRA scratch [T, r]: x·Aᵀ and its gradient; with dropout, its masked x and dx [T, in]. */
  loraT?: GPUBuffer;
  loraDt?: GPUBuffer;
  loraX?: GPUBuffer;
  loraDx?: GPUBuffer;
}

/**
 * Floats of each activation and gradient scratch buffer of a batch of T tokens: [floats, copies]
 * for one per layer (x has one more: the last layer's output), [floats] for one.
 */
function activationFloats(
  c: LlamaConfig,
  T: number,
  checkpointLayers: boolean,
  headTokens = T,
  loraRank = 0,
  loraDropout = false,
): Record<string, [number, number?]> {
  const { hiddenSize: D, intermediateSize: F, qDim, numAttentionHeads: H } = c;
  // Checkpointed layers share one slot (recomputed before each layer's backward); x stays.
  const N = checkpointLayers ? 1 : c.numHiddenLayers;
  const row = qDim + 2 * c.kvDim;
  return {
    x: [T * D, c.numHiddenLayers + 1],
    mid: [T * D, N],
    h1: [T * D, N],
    qkv: [T * row, N],
    attn: [T * qDim, N],
    lse: [T * H, N],
    h2: [T * D, N],
    gateUp: [T * 2 * F, N],
    act: [T * F, N],
    hf: [T * D],
    logits: [headTokens * c.vocabSize],
    nll: [T],
    dx: [T * D],
    dh: [T * D],
    dqkv: [T * row],
    dattn: [T * qDim],
    delta: [T * H],
    dGateUp: [T * 2 * F],
    dact: [T * F],
    rstd: [T],
    ...(loraRank ? { loraT: [T * loraRank], loraDt: [T * loraRank] } : {}),
    // Dropout's masked input and the input gradient before its mask, [T, widest input].
    ...(loraDropout
      ? { loraX: [T * Math.max(D, qDim, F)], loraDx: [T * Math.max(D, qDim, F)] }
      : {}),
  } as Record<string, [number, number?]>;
}

/**
 * GPU memory of training `c` on batches of `tokens` tokens: masters, gradients and the two AdamW
 * moments (4 × 4 bytes a parameter; with `lora`, 4 bytes a frozen base weight and 16 an adapter
 * weight), and the batch's activations and gradient scratch (with `checkpointLayers`, one layer's
 * and every layer's input).
 */
export function trainingMemory(
  c: LlamaConfig,
  tokens: number,
  checkpointLayers = false,
  lora?: LoraSpec,
  base?: PackFormat,
): { state: number; activations: number; total: number } {
  const params = new Map<string, { rows: number; cols: number }>();
  for (const v of tensorViews(c)) {
    const p = params.get(v.param);
    params.set(v.param, { rows: (p?.rows ?? 0) + v.rows, cols: v.cols });
  }
  let baseBytes = 0;
  let slice = 0; // the read-back buffer
  for (const [name, { rows, cols }] of params) {
    const as = base && lora ? packedAs(name, base) : undefined;
    if (!as) {
      baseBytes += (lora ? 4 : 16) * rows * cols;
      continue;
    }
    const align = as === "bf16" ? ROW_ALIGN : QUANT_BYTES[as].align;
    const stride = Math.ceil(cols / align) * align;
    baseBytes += matrixBytes({ type: as, rows, stride });
    slice = Math.max(slice, Math.min(SLICE_BYTES, rows * cols * 4));
  }
  const adapters = lora
    ? loraSites(c, lora).reduce((n, s) => n + lora.rank * (s.in + s.out), 0)
    : 0;
  const state = baseBytes + 16 * adapters + slice;
  const floats = Object.values(
    activationFloats(
      c,
      tokens,
      checkpointLayers,
      tokens,
      lora?.rank ?? 0,
      (lora?.dropout ?? 0) > 0,
    ),
  ).reduce(
    (n, [f, k]) => n + f * (k ?? 1),
    0,
  );
  const activations = 4 * floats + 4 * tokens * 8; // + ids, seq, spans, targets and the id groups
  return { state, activations, total: state + activations };
}

/** A Llama's training state on one device. */
export class TrainableLlama {
  readonly config: LlamaConfig;
  readonly #gpu: Gpu;
  readonly #ops: Ops;
  readonly #train: TrainOps;
  readonly #params = new Map<string, Param>();
  /** With LoRA: the base's weights, frozen (no gradient or moments). */
  readonly #frozen = new Map<string, GPUBuffer>();
  readonly #lora: { spec: LoraSpec; scale: number; sites: LoraSite[] } | undefined;
  /** A gradient nobody reads, for a frozen norm's weight gradient. */
  #discard: GPUBuffer | undefined;
  /** LoRA's dropout: the run's seed, and this forward's (undefined: no dropout). */
  #loraSeed = 0;
  #dropoutSeed: number | undefined;
  /** With QLoRA: the packed base (set once {@linkcode ready} settles). */
  #base: PackedBase | undefined;
  /** Settles when the base is on the GPU (packing it takes the device's queue). */
  readonly ready: Promise<void>;
  readonly #views: TensorView[];
  #rope: { cos: GPUBuffer; sin: GPUBuffer; length: number } | undefined;
  /** Every gradient's partial sums of squares (the global norm), and their launches. */
  readonly #partials: GPUBuffer;
  readonly #squareSums: Step[];
  readonly #adam: { record: Step; set(h: AdamStep): void; destroy(): void; decay: boolean }[];
  /** Keep only each layer's input; recompute the rest before its backward (less memory). */
  readonly #checkpointLayers: boolean;
  /** Most tokens per lm_head chunk (default: what one binding of logits holds). */
  readonly #headLimit: number | undefined;
  /** GPU bytes the last batch's activations and scratch took (what --dry-run estimates). */
  batchBytes = 0;
  /** Optimizer steps taken (AdamW's bias corrections count from 1). */
  step = 0;

  /** Uploads `tensors` (every HF tensor of `config`, f32, by name) as masters; moments start at 0. */
  constructor(
    gpu: Gpu,
    config: LlamaConfig,
    tensors: ReadonlyMap<string, Float32Array>,
    options: { checkpointLayers?: boolean; headTokens?: number; lora?: LoraTraining } = {},
  ) {
    if (config.attentionBias || config.mlpBias) {
      throw new InputError(
        "config.json: attention_bias / mlp_bias are true; training supports Llama layers without biases",
      );
    }
    if (config.headDim % 4 !== 0 || config.headDim > 128) {
      throw new InputError(
        `config.json: head_dim ${config.headDim}: training expects a multiple of 4 up to 128`,
      );
    }
    this.config = config;
    this.#gpu = gpu;
    this.#checkpointLayers = options.checkpointLayers ?? false;
    this.#headLimit = options.headTokens;
    this.#ops = new Ops(gpu);
    this.#train = new TrainOps(gpu, this.#ops.launcher);
    this.#views = tensorViews(config);
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const toPack = new Map<
      string,
      { host: Float32Array<ArrayBuffer>; rows: number; cols: number }
    >();
    const shapes = new Map<string, { rows: number; cols: number; decay: boolean }>();
    for (const v of this.#views) {
      const s = shapes.get(v.param);
      shapes.set(v.param, {
        rows: Math.max(s?.rows ?? 0, v.first + v.rows),
        cols: v.cols,
        decay: !v.param.endsWith("norm"),
      });
    }
    const packs = (name: string) =>
      options.lora?.base !== undefined && packedAs(name, options.lora.base) !== undefined;
    for (const [name, s] of shapes) {
      const bytes = s.rows * s.cols * 4;
      // A packed matrix is split across bindings (and read back a slice or a layer at a time).
      if (bytes > limit && !packs(name)) {
        throw new InputError(
          `${name}: ${s.rows}×${s.cols} f32 is ${bytes} bytes, beyond this device's largest binding (${limit}); training does not split tensors yet`,
        );
      }
      const host = new Float32Array(s.rows * s.cols);
      for (const v of this.#views.filter((v) => v.param === name)) {
        const t = tensors.get(v.name);
        if (!t || t.length !== v.rows * v.cols) {
          throw new InputError(`${v.name}: missing or not ${v.rows}×${v.cols}`);
        }
        host.set(t, v.first * v.cols);
      }
      if (packs(name)) {
        toPack.set(name, { host, rows: s.rows, cols: s.cols });
        continue;
      }
      if (options.lora) {
        this.#frozen.set(name, uploadArray(gpu.device, host, name));
        continue;
      }
      const zeros = () => storageBuffer(gpu.device, bytes, `${name}.state`);
      this.#params.set(name, {
        name,
        ...s,
        p: uploadArray(gpu.device, host, name),
        g: zeros(),
        m: zeros(),
        v: zeros(),
      });
    }
    this.#lora = options.lora && this.#addAdapters(options.lora);
    this.#loraSeed = options.lora?.seed ?? 42;
    const base = options.lora?.base;
    this.ready = base
      ? PackedBase.pack(gpu, this.#ops, toPack, base, options.lora?.sliceBytes).then((b) => {
        this.#base = b;
      })
      : Promise.resolve();
    const params = [...this.#params.values()];
    this.#adam = params.map((p) => ({
      ...this.#train.adamw({ grad: p.g, p: p.p, m: p.m, v: p.v, n: p.rows * p.cols }),
      decay: p.decay,
    }));
    const slices = params.map((p) => this.#train.squareSumSlices(p.rows * p.cols));
    // Sized exactly (storageBuffer rounds up to 16 bytes; the tail stays zero).
    this.#partials = storageBuffer(
      gpu.device,
      slices.reduce((a, b) => a + b, 0) * 4,
      "grad.partials",
    );
    let first = 0;
    this.#squareSums = params.map((p, i) => {
      const record = this.#train.squareSum(p.g, p.rows * p.cols, this.#partials, first);
      first += slices[i]!;
      return record;
    });
  }

  /**
   * The adapters' A and B as trained tensors (named as PEFT names them), from `lora.init` or new:
   * A Kaiming-uniform with a = √5 (U(±1/√in), PEFT's default), B zero.
   */
  #addAdapters(lora: LoraTraining): { spec: LoraSpec; scale: number; sites: LoraSite[] } {
    const { rank } = lora.spec;
    const sites = loraSites(this.config, lora.spec);
    const next = mulberry32(lora.seed ?? 42);
    const device = this.#gpu.device;
    const add = (name: string, rows: number, cols: number, make: () => Float32Array) => {
      const given = lora.init?.get(name);
      if (lora.init && (!given || given.length !== rows * cols)) {
        throw new InputError(`the adapter has no ${name} of ${rows}×${cols}`);
      }
      const bytes = rows * cols * 4;
      const zeros = () => storageBuffer(device, bytes, `${name}.state`);
      this.#params.set(name, {
        name,
        rows,
        cols,
        decay: true,
        p: uploadArray(device, Float32Array.from(given ?? make()), name),
        g: zeros(),
        m: zeros(),
        v: zeros(),
      });
    };
    for (const site of sites) {
      const { a, b } = peftNames(site);
      const bound = 1 / Math.sqrt(site.in);
      add(
        a,
        rank,
        site.in,
        () => Float32Array.from({ length: rank * site.in }, () => (2 * next() - 1) * bound),
      );
      add(b, site.out, rank, () => new Float32Array(site.out * rank));
    }
    return { spec: lora.spec, scale: loraScale(lora.spec), sites };
  }

  /**
   * Layer l's `kind` forward: y (+)= x·Wᵀ, from the packed base when there is one (read back a
   * slice at a time), else from its f32 weight.
   */
  #linear(
    pass: GPUComputePassEncoder,
    l: number,
    kind: LayerMatrix,
    io: { x: Bindable; y: Bindable },
    shape: { tokens: number; rows: number; cols: number },
    accumulate = false,
  ): void {
    const packed = this.#base?.matrices.get(`${l}.${kind}`);
    if (packed) {
      const slices = { from: io.x, to: io.y, tokens: shape.tokens };
      return this.#base!.product(pass, this.#train, packed, slices, "forward", accumulate);
    }
    this.#train.linear(io.x, this.#param(`${l}.${kind}`).p, io.y, shape, accumulate)(pass);
  }

  /** A weight (trained or frozen; none for a packed one) and its gradient when trained. */
  #weight(name: string): { p: GPUBuffer; g?: GPUBuffer } {
    return this.#params.get(name) ?? { p: this.#frozen.get(name)! };
  }

  /** What {@linkcode tensors} and the saved files hold: the adapters with LoRA, else the model. */
  get #savedViews(): TensorView[] {
    if (!this.#lora) return this.#views;
    return [...this.#params.values()].map((p) => ({
      name: p.name,
      param: p.name,
      first: 0,
      rows: p.rows,
      cols: p.cols,
    }));
  }

  /** Bytes of masters, gradients and moments. */
  get stateBytes(): number {
    let n = this.#base?.bytes ?? 0;
    for (const p of this.#params.values()) n += 4 * 4 * p.rows * p.cols;
    for (const b of this.#frozen.values()) n += b.size;
    return n;
  }

  /**
   * One optimizer step over `batches` (gradient accumulation: their gradients add up, the loss is
   * the mean over all their counted labels), then AdamW with the given settings.
   */
  async trainStep(batches: readonly PackedBatch[], o: OptimizerSettings): Promise<StepResult> {
    const { loss, counted, tokens } = await this.accumulate(batches);
    const gradNorm = await this.gradientNorm();
    // A NaN or infinity here would reach every weight through AdamW: such a step changes nothing.
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      return { loss, gradNorm, counted, tokens, applied: false };
    }
    const gradScale = gradNorm > o.maxGradNorm ? o.maxGradNorm / (gradNorm + 1e-6) : 1;
    this.step++;
    const [bc1, bc2] = [1 - o.beta1 ** this.step, 1 - o.beta2 ** this.step];
    const encoder = this.#gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const a of this.#adam) {
      a.set({ ...o, weightDecay: a.decay ? o.weightDecay : 0, bc1, bc2, gradScale });
      a.record(pass);
    }
    pass.end();
    this.#gpu.device.queue.submit([encoder.finish()]);
    return { loss, gradNorm, counted, tokens, applied: true };
  }

  /** Zeroes the gradients and adds those of `batches`; returns their mean loss. */
  async accumulate(
    batches: readonly PackedBatch[],
  ): Promise<{ loss: number; counted: number; tokens: number }> {
    const counted = batches.reduce((n, b) => n + b.counted, 0);
    const encoder = this.#gpu.device.createCommandEncoder();
    for (const p of this.#params.values()) encoder.clearBuffer(p.g);
    this.#gpu.device.queue.submit([encoder.finish()]);
    let total = 0;
    let tokens = 0;
    for (const [micro, b] of batches.entries()) {
      total += await this.#run(b, { backward: true, scale: 1 / Math.max(1, counted), micro });
      tokens += b.ids.length;
    }
    return { loss: counted ? total / counted : 0, counted, tokens };
  }

  /** Summed loss of a batch (no gradients): for evaluation. */
  async lossSum(batch: PackedBatch): Promise<number> {
    return await this.#run(batch, { backward: false, scale: 1 });
  }

  /** The model's trained context (positions beyond it are never run). */
  get contextLength(): number {
    return this.config.maxPositionEmbeddings;
  }

  /**
   * Σ −log p(targets[t] | ids[0..t]) over targets ≠ −100: one sequence, no gradients (the
   * `perplexity` command's {@linkcode ScoringModel}, so evaluation runs its code).
   */
  async crossEntropy(ids: readonly number[], targets: readonly number[]): Promise<number> {
    const n = ids.length;
    const batch: PackedBatch = {
      ids: Uint32Array.from(ids),
      seq: Uint32Array.from({ length: 2 * n }, (_, i) => i % 2 ? (i - 1) / 2 : 0),
      spans: Uint32Array.from({ length: 2 * n }, (_, i) => i % 2 ? n : 0),
      targets: Uint32Array.from(targets, (t) => t < 0 ? IGNORED : t),
      counted: targets.filter((t) => t >= 0).length,
      positions: n,
    };
    return await this.lossSum(batch);
  }

  /** Global L2 norm of the gradients. */
  async gradientNorm(): Promise<number> {
    const encoder = this.#gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.#squareSums.forEach((record) => record(pass));
    pass.end();
    this.#gpu.device.queue.submit([encoder.finish()]);
    const sums = new Float32Array(
      await readBuffer(this.#gpu.device, this.#partials, this.#partials.size),
    );
    let sum = 0;
    for (const s of sums) sum += s;
    return Math.sqrt(sum);
  }

  /** Every HF tensor's current values (`which`: the weights or their gradients). */
  async tensors(which: "weights" | "gradients" = "weights"): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const read = new Map<string, Float32Array>();
    for (const p of this.#params.values()) {
      const b = which === "weights" ? p.p : p.g;
      read.set(
        p.name,
        new Float32Array(await readBuffer(this.#gpu.device, b, p.rows * p.cols * 4)),
      );
    }
    for (const v of this.#savedViews) {
      out.set(v.name, read.get(v.param)!.slice(v.first * v.cols, (v.first + v.rows) * v.cols));
    }
    return out;
  }

  /**
   * Masters and AdamW moments of every trained tensor (`NAME.master`, `NAME.exp_avg`,
   * `NAME.exp_avg_sq`, NAME a fused tensor's name), for a checkpoint that resumes exactly.
   */
  async optimizerState(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of this.#params.values()) {
      for (const [what, buffer] of stateOf(p)) {
        const data = new Float32Array(
          await readBuffer(this.#gpu.device, buffer, p.rows * p.cols * 4),
        );
        out.set(`${p.name}.${what}`, { shape: [p.rows, p.cols], data });
      }
    }
    return out;
  }

  /** Restores {@linkcode optimizerState}'s tensors (all of them must be there) and the step count. */
  loadOptimizerState(
    state: ReadonlyMap<string, Float32Array<ArrayBuffer>>,
    step: number,
    source: string,
  ): void {
    for (const p of this.#params.values()) {
      for (const [what, buffer] of stateOf(p)) {
        const data = state.get(`${p.name}.${what}`);
        if (!data || data.length !== p.rows * p.cols) {
          throw new InputError(
            `${source}: "${p.name}.${what}" is missing or not ${p.rows}×${p.cols}: not a checkpoint of this model`,
          );
        }
        this.#gpu.device.queue.writeBuffer(buffer, 0, data);
      }
    }
    this.step = step;
  }

  /** Frees every buffer. */
  destroy(): void {
    for (const p of this.#params.values()) [p.p, p.g, p.m, p.v].forEach((b) => b.destroy());
    for (const b of this.#frozen.values()) b.destroy();
    this.#base?.destroy();
    this.#discard?.destroy();
    this.#adam.forEach((a) => a.destroy());
    this.#partials.destroy();
    this.#rope?.cos.destroy();
    this.#rope?.sin.destroy();
  }

  /** Runs one batch forward (and backward); returns its summed loss. */
  async #run(
    b: PackedBatch,
    o: { backward: boolean; scale: number; micro?: number },
  ): Promise<number> {
    const T = b.ids.length;
    if (T === 0) return 0;
    await this.ready;
    // LoRA's dropout masks, in training only: a seed per optimizer step and micro-batch (so a
    // resumed run draws the same ones), then per adapted projection.
    const p = this.#lora?.spec.dropout ?? 0;
    this.#dropoutSeed = o.backward && p > 0
      ? mix(mix(this.#loraSeed, this.step), o.micro ?? 0)
      : undefined;
    const a = this.#activations(b);
    const buffers = [...Object.values(a), ...Object.values(a.csr)].flat()
      .filter((v) => v instanceof GPUBuffer);
    this.batchBytes = buffers.reduce((n, v) => n + v.size, 0);
    try {
      const encoder = this.#gpu.device.createCommandEncoder();
      this.#ops.setFrame(T);
      this.#forward(encoder, a, o.scale, o.backward);
      if (o.backward) this.#backward(encoder, a);
      this.#gpu.device.queue.submit([encoder.finish()]);
      const nll = new Float32Array(await readBuffer(this.#gpu.device, a.nll, T * 4));
      let sum = 0;
      for (const v of nll) sum += v;
      return sum;
    } finally {
      buffers.forEach((v) => v.destroy());
    }
  }

  #activations(b: PackedBatch): Activations {
    const c = this.config;
    const T = b.ids.length;
    const { device } = this.#gpu;
    const f32 = (n: number, label: string) => storageBuffer(device, n * 4, label);
    const each = (n: number, label: string, count: number) =>
      Array.from({ length: count }, (_, l) => f32(n, `${label}.${l}`));
    const groups = idGroups(b.ids);
    this.#ensureRope(b.positions);
    return {
      tokens: T,
      ids: uploadArray(device, b.ids, "ids"),
      seq: uploadArray(device, b.seq, "seq"),
      spans: uploadArray(device, b.spans, "spans"),
      targets: uploadArray(device, b.targets, "targets"),
      csr: {
        ids: uploadArray(device, groups.ids, "csr.ids"),
        offsets: uploadArray(device, groups.offsets, "csr.offsets"),
        order: uploadArray(device, groups.order, "csr.order"),
        count: groups.ids.length,
      },
      ...Object.fromEntries(
        Object.entries(
          activationFloats(
            c,
            T,
            this.#checkpointLayers,
            this.#headTokens(T),
            this.#lora?.spec.rank ?? 0,
            (this.#lora?.spec.dropout ?? 0) > 0,
          ),
        ).map((
          [name, [floats, count]],
        ) => [
          name,
          count === undefined ? f32(floats, name) : each(floats, name, count),
        ]),
      ) as Omit<Activations, "tokens" | "ids" | "seq" | "spans" | "targets" | "csr">,
    };
  }

  /** RoPE tables covering `positions` (regrown when a longer batch comes). */
  #ensureRope(positions: number): void {
    if (this.#rope && this.#rope.length >= positions) return;
    this.#rope?.cos.destroy();
    this.#rope?.sin.destroy();
    const length = Math.max(positions, 2 * (this.#rope?.length ?? 128));
    const { cos, sin } = ropeTables(this.config, length);
    this.#rope = {
      cos: uploadArray(this.#gpu.device, cos, "rope.cos"),
      sin: uploadArray(this.#gpu.device, sin, "rope.sin"),
      length,
    };
  }

  #param(name: string): { p: GPUBuffer; g?: GPUBuffer } {
    return this.#weight(name);
  }

  /**
   * A linear layer's backward; a frozen weight (no gradient) gets only dx, from the packed base
   * when it is `packed` (layer l's `kind`).
   */
  #linearBackward(
    io: { dy: Bindable; x: Bindable; w: GPUBuffer; dx: Bindable; dw: GPUBuffer | undefined },
    s: { tokens: number; rows: number; cols: number },
    packed?: string,
  ): Step {
    const w = packed === undefined ? undefined : this.#base?.matrices.get(packed);
    if (w) {
      const slices = { from: io.dy, to: io.dx, tokens: s.tokens };
      return (pass) => this.#base!.product(pass, this.#train, w, slices, "input gradient");
    }
    return io.dw
      ? this.#train.linearBackward({ ...io, dw: io.dw }, s)
      : this.#train.linearGradInput(io.dy, io.w, io.dx, s);
  }

  /** A norm weight's gradient buffer, or one nobody reads when it is frozen. */
  #normGrad(g: GPUBuffer | undefined): GPUBuffer {
    return g ?? (this.#discard ??= storageBuffer(
      this.#gpu.device,
      Math.max(this.config.hiddenSize, 4) * 4,
      "frozen.norm.grad",
    ));
  }

  /** The LoRA launches of layer l's `group` for batch `a` (none without LoRA). */
  #loraOf(a: Activations, l: number, group: FusedGroup) {
    const lora = this.#lora;
    if (!lora) return [];
    const seed = this.#dropoutSeed;
    return lora.sites.flatMap((site, i) => {
      if (site.layer !== l || site.group !== group) return [];
      const { a: A, b: B } = peftNames(site);
      return [loraSteps(
        this.#train,
        site,
        { a: this.#params.get(A)!, b: this.#params.get(B)! },
        lora.spec.rank,
        lora.scale,
        a.tokens,
        { t: a.loraT!, dt: a.loraDt!, xd: a.loraX, dxd: a.loraDx },
        seed === undefined ? undefined : { p: lora.spec.dropout!, seed: mix(seed, i) },
      )];
    });
  }

  /**
   * The forward pass, keeping activations, to the loss per token; with `backward` it ends with
   * the head's gradients (dh = d hf, lm_head's dW added).
   */
  #forward(encoder: GPUCommandEncoder, a: Activations, scale: number, backward: boolean): void {
    const c = this.config;
    const T = a.tokens;
    const D = c.hiddenSize;
    const table = this.#base?.matrices.get("embed") ?? {
      type: "f32" as const,
      rows: c.vocabSize,
      cols: D,
      stride: D,
      parts: [{ buffer: this.#param("embed").p, firstRow: 0, rows: c.vocabSize }],
    };
    let pass = encoder.beginComputePass();
    this.#ops.embedding(a.ids, table, a.x[0]!).record(pass, T);
    pass.end();
    for (let l = 0; l < c.numHiddenLayers; l++) this.#layerForward(encoder, a, l, true);
    pass = encoder.beginComputePass();
    const last = a.x[c.numHiddenLayers]!;
    this.#ops.rmsnorm(last, this.#param("norm").p, a.hf, { dim: D, eps: c.rmsNormEps })
      .record(pass, T);
    // lm_head and the loss a chunk of tokens at a time (the logits of all would not fit one
    // binding with a large vocabulary); with `backward`, also the head's gradients: dW += and
    // d hf for the chunk.
    const head = this.#head();
    const n = this.#headTokens(T);
    for (let t0 = 0; t0 < T; t0 += n) {
      const rows = Math.min(n, T - t0);
      const at = (b: GPUBuffer, width: number) => ({
        buffer: b,
        offset: t0 * width * 4,
        size: rows * width * 4,
      });
      const shape = { tokens: rows, rows: c.vocabSize, cols: D };
      const packed = this.#base?.matrices.get(this.#headName());
      if (packed) {
        const slices = { from: at(a.hf, D), to: a.logits, tokens: rows };
        this.#base!.product(pass, this.#train, packed, slices, "forward");
      } else this.#train.linear(at(a.hf, D), head.p, a.logits, shape)(pass);
      this.#train.crossEntropyGrad(a.logits, at(a.targets, 1), at(a.nll, 1), {
        tokens: rows,
        vocab: c.vocabSize,
        scale,
      })(pass);
      if (!backward) continue;
      if (packed) {
        const slices = { from: a.logits, to: at(a.dh, D), tokens: rows };
        this.#base!.product(pass, this.#train, packed, slices, "input gradient");
        continue;
      }
      const io = { dy: a.logits, x: at(a.hf, D), w: head.p, dx: at(a.dh, D), dw: head.g };
      this.#linearBackward(io, shape)(pass);
    }
    pass.end();
  }

  /** lm_head's tensor: the embedding when tied. */
  #headName(): "lm_head" | "embed" {
    return this.config.tieWordEmbeddings ? "embed" : "lm_head";
  }

  /**
   * Tokens per lm_head chunk: the logits' binding holds [chunk, vocab] f32; a chunk that is not
   * the whole batch is a multiple of 64 tokens, so every chunk's offset into hf, dh, targets and
   * nll is 256-byte aligned as bindings require.
   */
  #headTokens(T: number): number {
    const limit = Math.floor(
      this.#gpu.limits.maxStorageBufferBindingSize / (this.config.vocabSize * 4),
    );
    const n = Math.min(T, this.#headLimit ?? limit, limit);
    if (n === T) return T;
    if (n < 64) {
      throw new InputError(
        `config.json: vocab_size ${this.config.vocabSize} is too large for this device: 64 tokens of logits exceed its largest binding`,
      );
    }
    return n - (n % 64);
  }

  /**
   * Layer l's forward from x[l] into its activation slot; with `output`, also x[l + 1] (a
   * checkpointed layer's recomputation before its backward skips that: x[l + 1] is kept).
   */
  #layerForward(encoder: GPUCommandEncoder, a: Activations, l: number, output: boolean): void {
    const c = this.config;
    const ops = this.#ops;
    const train = this.#train;
    const { T, D, F, row, heads, rope } = this.#sizes(a);
    const s = this.#slot(l);
    const p = (n: string) => this.#param(`${l}.${n}`).p;
    let pass = encoder.beginComputePass();
    ops.rmsnorm(a.x[l]!, p("attn_norm"), a.h1[s]!, { dim: D, eps: c.rmsNormEps }).record(pass, T);
    this.#linear(pass, l, "qkv", { x: a.h1[s]!, y: a.qkv[s]! }, { tokens: T, rows: row, cols: D });
    for (const lo of this.#loraOf(a, l, "qkv")) lo.forward(a.h1[s]!, a.qkv[s]!)(pass);
    ops.rope(a.qkv[s]!, rope.cos, rope.sin, a.seq, { ...heads, row }).record(pass, T);
    train.attention(a.qkv[s]!, a.spans, a.attn[s]!, a.lse[s]!, { tokens: T, ...heads, row })(pass);
    pass.end();
    encoder.copyBufferToBuffer(a.x[l]!, 0, a.mid[s]!, 0, T * D * 4);
    pass = encoder.beginComputePass();
    const oShape = { tokens: T, rows: D, cols: c.qDim };
    this.#linear(pass, l, "o", { x: a.attn[s]!, y: a.mid[s]! }, oShape, true);
    for (const lo of this.#loraOf(a, l, "o")) lo.forward(a.attn[s]!, a.mid[s]!)(pass);
    ops.rmsnorm(a.mid[s]!, p("mlp_norm"), a.h2[s]!, { dim: D, eps: c.rmsNormEps }).record(pass, T);
    const gateUpShape = { tokens: T, rows: 2 * F, cols: D };
    this.#linear(pass, l, "gate_up", { x: a.h2[s]!, y: a.gateUp[s]! }, gateUpShape);
    for (const lo of this.#loraOf(a, l, "gate_up")) lo.forward(a.h2[s]!, a.gateUp[s]!)(pass);
    ops.siluMul(a.gateUp[s]!, a.act[s]!, { width: F }).record(pass, T);
    pass.end();
    if (!output) return;
    encoder.copyBufferToBuffer(a.mid[s]!, 0, a.x[l + 1]!, 0, T * D * 4);
    pass = encoder.beginComputePass();
    const downShape = { tokens: T, rows: D, cols: F };
    this.#linear(pass, l, "down", { x: a.act[s]!, y: a.x[l + 1]! }, downShape, true);
    for (const lo of this.#loraOf(a, l, "down")) lo.forward(a.act[s]!, a.x[l + 1]!)(pass);
    pass.end();
  }

  /** The backward pass from d hf (the head's, from the forward) to every parameter's gradient. */
  #backward(encoder: GPUCommandEncoder, a: Activations): void {
    const c = this.config;
    const train = this.#train;
    const T = a.tokens;
    const D = c.hiddenSize;
    let pass = encoder.beginComputePass();
    const norm = this.#param("norm");
    const last = a.x[c.numHiddenLayers]!;
    train.rmsnormGrad(
      { x: last, w: norm.p, dy: a.dh, dx: a.dx, dw: this.#normGrad(norm.g), rstd: a.rstd },
      { tokens: T, dim: D, eps: c.rmsNormEps, accumulate: false },
    )(pass);
    pass.end();
    for (let l = c.numHiddenLayers - 1; l >= 0; l--) {
      if (this.#checkpointLayers) this.#layerForward(encoder, a, l, false);
      pass = encoder.beginComputePass();
      this.#layerBackward(pass, a, l);
      pass.end();
    }
    const embed = this.#param("embed").g;
    if (!embed) return; // frozen
    pass = encoder.beginComputePass();
    train.embeddingGrad(a.csr, a.dx, embed, D)(pass);
    pass.end();
  }

  /** Layer l's backward: dx from d x[l + 1] to d x[l], its parameters' gradients added. */
  #layerBackward(pass: GPUComputePassEncoder, a: Activations, l: number): void {
    const c = this.config;
    const train = this.#train;
    const { T, D, F, row, heads, rope } = this.#sizes(a);
    const eps = c.rmsNormEps;
    const s = this.#slot(l);
    const p = (n: string) => this.#param(`${l}.${n}`);
    // MLP: x[l+1] = mid + down(silu(gate) · up) of h2 = norm(mid).
    const down = { dy: a.dx, x: a.act[s]!, w: p("down").p, dx: a.dact, dw: p("down").g };
    this.#linearBackward(down, { tokens: T, rows: D, cols: F }, `${l}.down`)(pass);
    for (const lo of this.#loraOf(a, l, "down")) lo.backward(a.act[s]!, a.dx, a.dact)(pass);
    train.siluMulGrad(a.gateUp[s]!, a.dact, a.dGateUp, { tokens: T, width: F })(pass);
    const gateUp = { dy: a.dGateUp, x: a.h2[s]!, w: p("gate_up").p, dx: a.dh, dw: p("gate_up").g };
    this.#linearBackward(gateUp, { tokens: T, rows: 2 * F, cols: D }, `${l}.gate_up`)(pass);
    for (const lo of this.#loraOf(a, l, "gate_up")) lo.backward(a.h2[s]!, a.dGateUp, a.dh)(pass);
    const mlpNorm = this.#normGrad(p("mlp_norm").g);
    train.rmsnormGrad(
      { x: a.mid[s]!, w: p("mlp_norm").p, dy: a.dh, dx: a.dx, dw: mlpNorm, rstd: a.rstd },
      { tokens: T, dim: D, eps, accumulate: true },
    )(pass);
    // Attention: mid = x[l] + o(attention(rope(qkv(h1)))) of h1 = norm(x[l]).
    const o = { dy: a.dx, x: a.attn[s]!, w: p("o").p, dx: a.dattn, dw: p("o").g };
    this.#linearBackward(o, { tokens: T, rows: D, cols: c.qDim }, `${l}.o`)(pass);
    for (const lo of this.#loraOf(a, l, "o")) lo.backward(a.attn[s]!, a.dx, a.dattn)(pass);
    const saved = { qkv: a.qkv[s]!, spans: a.spans, out: a.attn[s]!, lse: a.lse[s]! };
    train.attentionGrad(saved, a.dattn, a.delta, a.dqkv, { tokens: T, ...heads, row })(pass);
    this.#ops.rope(a.dqkv, rope.cos, rope.sin, a.seq, { ...heads, row, inverse: true })
      .record(pass, T);
    const qkv = { dy: a.dqkv, x: a.h1[s]!, w: p("qkv").p, dx: a.dh, dw: p("qkv").g };
    this.#linearBackward(qkv, { tokens: T, rows: row, cols: D }, `${l}.qkv`)(pass);
    for (const lo of this.#loraOf(a, l, "qkv")) lo.backward(a.h1[s]!, a.dqkv, a.dh)(pass);
    const attnNorm = this.#normGrad(p("attn_norm").g);
    train.rmsnormGrad(
      { x: a.x[l]!, w: p("attn_norm").p, dy: a.dh, dx: a.dx, dw: attnNorm, rstd: a.rstd },
      { tokens: T, dim: D, eps, accumulate: true },
    )(pass);
  }

  /** The activation slot of layer l: its own, or the one shared slot when checkpointing. */
  #slot(l: number): number {
    return this.#checkpointLayers ? 0 : l;
  }

  /** lm_head, or the embedding when tied (its gradient then gathers both uses). */
  #head(): { p: GPUBuffer; g?: GPUBuffer } {
    return this.#frozen.has("lm_head") || this.#params.has("lm_head")
      ? this.#weight("lm_head")
      : this.#weight("embed");
  }

  /** A layer's sizes for batch `a`, its heads and the RoPE tables. */
  #sizes(a: Activations) {
    const c = this.config;
    return {
      T: a.tokens,
      D: c.hiddenSize,
      F: c.intermediateSize,
      row: c.qDim + 2 * c.kvDim,
      heads: { qHeads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim },
      rope: this.#rope!,
    };
  }
}
