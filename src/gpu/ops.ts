/**
 * One launcher per kernel. Each validates sizes once, builds its bind groups and parameters at
 * load, and returns a {@linkcode Launch} that records dispatches into a compute pass — so a
 * forward pass creates no GPU objects. The token count lives in one shared `frame` uniform, each
 * token's (sequence slot, position) in a `seq` buffer the caller writes.
 * @module
 */
import type { Gpu } from "./device.ts";
import {
  type ElementType,
  type GpuMatrix,
  type PackFormat,
  type PartPacker,
  QUANT_BYTES,
  QUANT_GROUP,
  readBuffer,
  storageBuffer,
  uniformBuffer,
} from "./buffers.ts";
import { kernel } from "./kernels.ts";
import { Launcher, MAX_WIDTH } from "./launcher.ts";
import type { SamplingParams } from "./sampling_params.ts";

/** What the rope_kv output of the qkv product needs (kernels/outputs/rope_kv.wgsl). */
export interface RopeKv {
  qHeads: number;
  kvHeads: number;
  headDim: number;
  /** Positions per slot of the caches. */
  context: number;
  cos: GPUBuffer; // [context, headDim / 2]
  sin: GPUBuffer; // [context, headDim / 2]
  seq: GPUBuffer; // u32 [tokens, 2]: (slot, position)
  caches: { k: GPUBuffer; v: GPUBuffer }; // [slots, context, kvHeads · headDim]
}

/** A prepared dispatch (or a few): records itself for `tokens` rows of input. */
export interface Launch {
  /** `lastPosition` (the largest among the tokens) sizes launches that grow with the context. */
  record(pass: GPUComputePassEncoder, tokens: number, lastPosition?: number): void;
}

/** Tokens per slice, bins and candidates per row of the sample kernels (kernels/shared/sampling). */
const SAMPLE_SLICE = 4096;
const SAMPLE_BINS = 256;
const SAMPLE_CANDIDATES = 512;
/** Bytes of one slot's sample settings (kernels/shared/sampling.wgsl Settings). */
export const SETTINGS_BYTES = 48;
/** Most alternatives a logprobs record holds (kernels/logprobs.wgsl MAX_TOP), and its words. */
export const MAX_LOGPROBS = 20;
export const LOGPROB_RECORD = 3 + 2 * MAX_LOGPROBS;
/** Threads of a prefill attention workgroup: one per (token, query head of a kv group). */
const PREFILL_WG = 64;
/** Tokens and rows per matmul invocation (register blocks). */
const MATMUL_TOKENS = 8;
const MATMUL_ROWS = 8;
/**
 * matmul_lanes (software adapters, "rows" strategy, prompts of at least LANES_MIN_TOKENS): tokens
 * per lane, rows per workgroup, lanes per workgroup (one 8-wide SIMD vector measured best).
 */
const LANES_TOKENS = 8;
const LANES_ROWS = 128;
const LANES_WG = 8;
const LANES_MIN_TOKENS = 32;
/** Rows per matvec workgroup (split strategy). */
const ROWS_PER_MATVEC = 8;
/**
 * Rows each invocation owns (rows strategy, the ROWS_OWNED override): 16 pays for q4 and q5 (their
 * pre-scaled x serves more rows).
 */
const ROWS_OWNED = { f32: 8, f16: 8, bf16: 8, q8: 8, q5: 16, q4: 16 } as const;

/**
 * How the decode matvecs share out work. "split" (GPUs): a workgroup per 8 rows, its threads
 * splitting the columns and reducing in workgroup memory. "rows" (software adapters, where a
 * barrier costs more than the math): an invocation owns 8 or 16 whole rows; no workgroup memory
 * or barrier. The read-bandwidth roofline follows the same pattern, and under "rows" prompts of
 * 32 tokens or more take matmul_lanes (a lane per 8 tokens, weights read alike by all lanes).
 * (Attention keeps one kernel: a barrier-free one with a lane per query head measured 2× slower
 * on lavapipe.)
 */
export type DecodeStrategy = "split" | "rows";

/** Compiled pipelines and the launch builders, for one device. */
export class Ops {
  /** Uniform { tokens } shared by every kernel; written once per forward. */
  readonly frame: GPUBuffer;
  /** Pipelines, bind groups and parameters (shared with {@linkcode TrainOps} built on it). */
  readonly launcher: Launcher;
  readonly #gpu: Gpu;
  readonly #k: Launcher;
  /** Quantizer status (the id of a part that held an unusable weight) and part labels by id − 1. */
  #quantizeStatus: GPUBuffer | undefined;
  /** Bound where a layout has a binding a kernel does not read. */
  #unused: GPUBuffer | undefined;
  readonly #quantizedParts: string[] = [];

  readonly #decode: DecodeStrategy;

  /** `decode` defaults to "rows" on software adapters, "split" elsewhere. */
  constructor(gpu: Gpu, options: { decode?: DecodeStrategy } = {}) {
    this.#gpu = gpu;
    this.#k = this.launcher = new Launcher(gpu);
    this.#decode = options.decode ?? (gpu.software ? "rows" : "split");
    this.frame = this.#k.frame;
  }

  /** Sets how many tokens the next submit runs (their positions come from the `seq` buffer). */
  setFrame(tokens: number): void {
    this.#k.setFrame(tokens);
  }

  /** x[t] = table[ids[t]]: ids u32 [tokens], table [V, dim], x f32 [tokens, dim]. */
  embedding(ids: GPUBuffer, table: GpuMatrix, x: GPUBuffer): Launch {
    const wg = this.#gpu.workgroups.elementwise;
    const parts = table.parts.map((p) => {
      const params = this.#k.uniform([table.cols, table.stride, p.firstRow, p.rows]);
      return this.#k.launch(
        kernel("embedding", table.type),
        wg,
        p.scales ? [params, ids, p.buffer, x, p.scales] : [params, ids, p.buffer, x],
      );
    });
    return { record: (pass, t) => parts.forEach((l) => l(pass, Math.ceil((t * table.cols) / wg))) };
  }

  /** y = rmsnorm(x) · w over rows of width dim; `lastOnly` normalises just the last row into row 0. */
  rmsnorm(
    x: GPUBuffer,
    w: GPUBuffer,
    y: GPUBuffer,
    options: { dim: number; eps: number; lastOnly?: boolean },
  ): Launch {
    const l = this.#k.launch(kernel("rmsnorm"), this.#gpu.workgroups.reduce, [
      this.#k.uniform([options.dim, { f32: options.eps }, options.lastOnly ? 1 : 0]),
      x,
      w,
      y,
    ]);
    return { record: (pass, t) => l(pass, options.lastOnly ? 1 : t) };
  }

  /**
   * y (+)= x·Wᵀ: x f32 [tokens, cols], W [rows, cols] in its stored type, y f32 [tokens, rows].
   * One token uses the matvec kernel, more the matmul (on software adapters, from 32 tokens,
   * matmul_lanes). With `norm`, x is RMS-normalised on the way in (y = rmsnorm(x)·g·Wᵀ, g the
   * norm's weight f32 [cols] padded to a multiple of 4): the norm costs no launch of its own.
   * With `siluMul`, W is gate|up interleaved in runs of 4 rows (weights.ts
   * `gateUpOrder`) and y is h = silu(gate) · up [tokens, width]: the activation is stored in place
   * of the product. With `ropeKv`, W is q|k|v with each q and k head's halves in turns of 4
   * (weights.ts `ropeOrder`), y is the qkv rows [tokens, rows] of which q is written, rotated by
   * each token's position (from `seq`), and k (rotated) and v go to the caches
   * [slots, context, kvHeads·headDim] (kernels/outputs/rope_kv.wgsl).
   */
  linear(
    x: GPUBuffer,
    w: GpuMatrix,
    y: GPUBuffer,
    options: {
      accumulate?: boolean;
      norm?: { weight: GPUBuffer; eps: number };
      siluMul?: { width: number };
      ropeKv?: RopeKv;
    } = {},
  ): Launch {
    const { norm, siluMul, ropeKv } = options;
    if (
      (siluMul || ropeKv) &&
      (options.accumulate || w.rows % 8 !== 0 || w.parts.some((p) => p.firstRow % 8 !== 0))
    ) {
      throw new Error("linear: a fused output takes rows in units of 8, not accumulated");
    }
    if (siluMul && 2 * siluMul.width > w.rows) throw new Error("linear: silu·mul past its rows");
    if (
      ropeKv &&
      (ropeKv.headDim % 8 !== 0 || w.rows !== (ropeKv.qHeads + 2 * ropeKv.kvHeads) * ropeKv.headDim)
    ) {
      throw new Error("linear: rope_kv takes q|k|v rows of heads of a multiple of 8");
    }
    const rope = ropeKv && [
      this.#k.uniform([ropeKv.qHeads, ropeKv.kvHeads, ropeKv.headDim, ropeKv.context]),
      ropeKv.cos,
      ropeKv.sin,
      ropeKv.seq,
      ropeKv.caches.k,
      ropeKv.caches.v,
    ];
    const wg = this.#gpu.workgroups.matvec;
    const mmWg = this.#gpu.workgroups.elementwise;
    const rowsOwned = this.#decode === "rows";
    // A normed input loads the norm's weight beside x: 16 rows per invocation amortise both.
    const owned = norm ? 16 : ROWS_OWNED[w.type];
    const matvecRows = rowsOwned ? owned * wg : ROWS_PER_MATVEC; // per workgroup
    const aligned = { X_ALIGNED: w.cols % 4 === 0 ? 1 : 0 };
    const io = {
      input: norm ? "rmsnorm" : "plain",
      output: siluMul ? "siluMul" : ropeKv ? "ropeKv" : "plain",
    } as const;
    const parts = w.parts.map((p) => {
      const params = this.#k.uniform([
        p.rows,
        w.cols,
        w.stride,
        p.firstRow,
        siluMul ? siluMul.width : w.rows,
        options.accumulate ? 1 : 0,
        { f32: norm?.eps ?? 0 },
      ]);
      // Quantized matrices bring their group scales as binding 5, a norm its weight as 6, an
      // output its own from 7 (null: no such binding).
      const resources = [params, x, p.buffer, y, p.scales ?? null, norm?.weight ?? null];
      if (rope) resources.push(...rope);
      return {
        rows: p.rows,
        matvec: rowsOwned
          ? this.#k.launch(kernel("matvecRows", w.type, io), wg, resources, {
            ROWS_OWNED: owned,
          })
          : this.#k.launch(kernel("matvec", w.type, io), wg, resources),
        matmul: this.#k.launch(kernel("matmul", w.type, io), mmWg, resources, aligned),
        lanes: rowsOwned
          ? this.#k.launch(kernel("matmulLanes", w.type, io), LANES_WG, resources, aligned)
          : undefined,
      };
    });
    return {
      record: (pass, t) => {
        for (const p of parts) {
          if (t === 1) p.matvec(pass, Math.ceil(p.rows / matvecRows));
          else if (p.lanes && t >= LANES_MIN_TOKENS) {
            const groups = Math.ceil(t / (LANES_TOKENS * LANES_WG));
            p.lanes(pass, groups * Math.ceil(p.rows / LANES_ROWS));
          } else {
            p.matmul(
              pass,
              Math.ceil((Math.ceil(p.rows / MATMUL_ROWS) * Math.ceil(t / MATMUL_TOKENS)) / mmWg),
            );
          }
        }
      },
    };
  }

  /**
   * Rotates the q and k heads of packed rows qkv [tokens, row] (q heads, then k heads, from column
   * 0) by position, with cos/sin tables [ctx, headDim/2].
   */
  rope(
    qkv: GPUBuffer,
    cos: GPUBuffer,
    sin: GPUBuffer,
    seq: GPUBuffer,
    options: { qHeads: number; kvHeads: number; headDim: number; row: number; inverse?: boolean },
  ): Launch {
    const { qHeads, kvHeads, headDim, row } = options;
    const params = this.#k.uniform([qHeads, kvHeads, headDim, row, options.inverse ? 1 : 0]);
    return this.#perToken("rope", ((qHeads + kvHeads) * headDim) / 2, [params, cos, sin, qkv, seq]);
  }

  /**
   * Between the qkv projection and attention, one launch: rotates q in place (rows [tokens, row]:
   * q heads, k heads, v heads) by position and appends the rotated k and v to the caches
   * [slots, context, kvHeads·headDim] at each token's (slot, position).
   */
  ropeKvWrite(
    qkv: GPUBuffer,
    cos: GPUBuffer,
    sin: GPUBuffer,
    seq: GPUBuffer,
    caches: { k: GPUBuffer; v: GPUBuffer },
    options: { qHeads: number; kvHeads: number; headDim: number; row: number; context: number },
  ): Launch {
    const { qHeads, kvHeads, headDim, row, context } = options;
    const params = this.#k.uniform([qHeads, kvHeads, headDim, row, context]);
    return this.#perToken(
      "ropeKvWrite",
      ((qHeads + 2 * kvHeads) * headDim) / 2,
      [params, cos, sin, qkv, seq, caches.k, caches.v],
    );
  }

  /**
   * Causal grouped-query attention: token t (sequence slot s, position p from `seq`) attends to
   * keys 0..p of slot s in the caches [slots, context, kvHeads, headDim]; q is the first
   * qHeads·headDim columns of rows [tokens, qRow]; out is [tokens, qHeads, headDim]. Up to `rows`
   * tokens (decode, one per sequence) split each cache into slices across workgroups and combine
   * them (flash-decoding); more tokens (prefill) use one workgroup per (token, head).
   */
  attention(
    q: GPUBuffer,
    kCache: GPUBuffer,
    vCache: GPUBuffer,
    out: GPUBuffer,
    seq: GPUBuffer,
    options: {
      qHeads: number;
      kvHeads: number;
      headDim: number;
      scale: number;
      context: number;
      qRow: number;
      /** Most tokens the split path takes (its partials are sized for them). */
      rows: number;
    },
  ): Launch {
    if (options.headDim > MAX_WIDTH || options.qHeads % options.kvHeads !== 0) {
      throw new Error(
        `attention: head_dim ${options.headDim} must be ≤ ${MAX_WIDTH} and kv heads must divide q heads`,
      );
    }
    const { qHeads, kvHeads, headDim, qRow, context } = options;
    const scale = { f32: options.scale };
    const wg = this.#gpu.workgroups.reduce;
    const whole = this.#k.launch(kernel("attention"), wg, [
      this.#k.uniform([qHeads, kvHeads, headDim, scale, qRow, context]),
      q,
      kCache,
      vCache,
      out,
      seq,
    ]);
    const group = options.qHeads / options.kvHeads;
    // The decode kernel keeps G·split scores in workgroup memory (≤ 2048) and G ≤ 8 heads' sums.
    const split = Math.min(this.#gpu.workgroups.attentionSplit, Math.floor(2048 / group));
    const grouped = group <= 8 && options.headDim % 4 === 0 && group * options.headDim <= 1024;
    const splits = Math.ceil(options.context / split);
    const partial = this.#k.scratch(
      options.rows * options.qHeads * splits * (options.headDim + 2) * 4,
      "attention.partial",
    );
    const decodeParams = this.#k.uniform([
      qHeads,
      kvHeads,
      headDim,
      scale,
      splits,
      split,
      qRow,
      context,
    ]);
    // A constant group: its loops unroll, sums stay in registers. FINAL: one split, no combine.
    const decodeInto = (into: GPUBuffer, final: boolean) =>
      this.#k.launch(
        kernel("attentionDecode"),
        this.#gpu.workgroups.attention,
        [decodeParams, q, kCache, vCache, into, seq],
        { GROUP: grouped ? group : 1, FINAL: final ? 1 : 0 },
      );
    const decode = decodeInto(partial, false);
    const decodeFinal = decodeInto(out, true);
    // Prompt chunks: the flash-attention kernel, where its register arrays hold a head (≤ 128).
    const tiled = options.headDim % 4 === 0 && options.headDim <= 128 && group <= PREFILL_WG;
    const perBlock = Math.floor(PREFILL_WG / group); // tokens per workgroup
    const prefill = tiled &&
      this.#k.launch(kernel("attentionPrefill"), PREFILL_WG, [
        this.#k.uniform([qHeads, kvHeads, headDim, scale, qRow, context]),
        q,
        kCache,
        vCache,
        out,
        seq,
      ], {
        GROUP: group,
        HD4: headDim / 4,
        // Keys per tile: K and V tiles within 12 KiB of workgroup memory, at most 16.
        TILE: Math.min(16, 2 ** Math.floor(Math.log2(1536 / headDim))),
      });
    const combine = this.#k.launch(kernel("attentionCombine"), wg, [
      this.#k.uniform([options.qHeads, options.headDim, splits, split]),
      partial,
      out,
      seq,
    ]);
    return {
      record: (pass, t, lastPosition = options.context - 1) => {
        if (t > options.rows && prefill) return prefill(pass, Math.ceil(t / perBlock), kvHeads);
        if (t > options.rows || !grouped) return whole(pass, t * options.qHeads);
        const used = Math.min(splits, Math.floor(lastPosition / split) + 1);
        if (used === 1) return decodeFinal(pass, options.kvHeads, t);
        decode(pass, options.kvHeads * used, t);
        combine(pass, t * options.qHeads);
      },
    };
  }

  /** h = silu(gate) · up [tokens, width] from packed rows gateUp [tokens, 2·width]. */
  siluMul(gateUp: GPUBuffer, h: GPUBuffer, options: { width: number }): Launch {
    return this.#perToken("siluMul", options.width, [this.#k.uniform([options.width]), gateUp, h]);
  }

  /**
   * nll[t] = −log softmax(logits[t])[targets[t]] for each of `tokens` rows of logits [rows, vocab];
   * a target of 0xffffffff (ignore_index) gives 0.
   */
  crossEntropy(logits: GPUBuffer, targets: GPUBuffer, nll: GPUBuffer, vocab: number): Launch {
    const l = this.#k.launch(kernel("crossEntropy"), this.#gpu.workgroups.reduce, [
      this.#k.uniform([vocab]),
      logits,
      targets,
      nll,
    ]);
    return { record: (pass, t) => l(pass, t) };
  }

  /** total[0] += x[0..tokens): a running sum that stays on the GPU. */
  sumInto(x: GPUBuffer, total: GPUBuffer): Launch {
    const l = this.#k.launch(kernel("sumInto"), this.#gpu.workgroups.reduce, [x, total]);
    return { record: (pass) => l(pass, 1) };
  }

  /**
   * Samples the next token of each of `rows` rows of logits [rows, V] (see kernels/sample*.wgsl):
   * each row's sequence (slot, position) comes from `seq`; the pick is recorded in `ring`, written
   * to `ids` and `seq` as that sequence's next input, and marked in its `seen` bits. Four passes:
   * statistics per slice of the vocabulary, bin counts, candidates, the pick (greedy: the first
   * and the last; a one-slice vocabulary: the pick alone, which runs the others). Settings are per
   * slot: the returned `set` writes one slot's.
   */
  sample(
    logits: GPUBuffer,
    state: {
      seen: GPUBuffer;
      ring: GPUBuffer;
      ringLength: number;
      seq: GPUBuffer;
      ids: GPUBuffer;
      settings: GPUBuffer;
      slots: number;
    },
    vocab: number,
  ) {
    const { device } = this.#gpu;
    const slices = Math.ceil(vocab / SAMPLE_SLICE);
    const params = uniformBuffer(
      device,
      [vocab, state.ringLength, slices, state.slots],
      "sample.params",
    );
    const scratch = this.#k.scratch(
      state.slots * (slices * 4 + SAMPLE_CANDIDATES * 2) * 4,
      "sample.scratch",
    );
    const counts = this.#k.scratch(state.slots * (2 * (SAMPLE_BINS + 1) + 1) * 4, "sample.counts");
    const { seen, ring, seq, ids, settings } = state;
    const all = [params, logits, seen, ring, seq, ids, settings, scratch, counts];
    const wg = this.#gpu.workgroups.elementwise;
    const scan = this.#k.launch(kernel("sampleScan"), wg, all);
    const bins = this.#k.launch(kernel("sampleBins"), wg, all);
    const gather = this.#k.launch(kernel("sampleGather"), wg, all);
    const pick = this.#k.launch(kernel("sample"), this.#gpu.workgroups.sample, all);
    const pickScanning = this.#k.launch(kernel("sample"), this.#gpu.workgroups.sample, all, {
      SCAN: 1,
    });
    // Where the vocabulary is one slice the pick runs the earlier passes itself: one launch.
    // While every slot is greedy, the two passes that only drawing needs are not even launched.
    const greedy = new Array<boolean>(state.slots).fill(true);
    const launch: Launch = {
      record: (pass, rows) => {
        if (slices === 1) return pickScanning(pass, rows);
        scan(pass, slices, rows);
        if (!greedy.every(Boolean)) {
          bins(pass, slices, rows);
          gather(pass, slices, rows);
        }
        pick(pass, rows);
      },
    };
    // Temperature 0 is greedy (argmax), as Hugging Face's do_sample = false.
    const set = (slot: number, s: SamplingParams) => {
      greedy[slot] = s.temperature <= 0;
      const data = new ArrayBuffer(28); // word 7 is the logprobs kernel's (see logprobs below)
      new Uint32Array(data, 0, 3).set([s.temperature <= 0 ? 1 : 0, s.seed >>> 0, s.topK]);
      new Float32Array(data, 12, 4).set([s.temperature, s.topP, s.minP, s.repetitionPenalty]);
      device.queue.writeBuffer(state.settings, slot * SETTINGS_BYTES, data);
    };
    const words = Math.ceil(vocab / 32);
    /** Constrains a slot's draws to the tokens whose bits are set; undefined lifts it. */
    const setMask = (slot: number, allowed: Uint32Array<ArrayBuffer> | undefined) => {
      if (allowed) {
        if (allowed.length !== words) {
          throw new RangeError(
            `a mask has ${words} words for ${vocab} tokens, got ${allowed.length}`,
          );
        }
        device.queue.writeBuffer(seen, (state.slots + slot) * words * 4, allowed);
      }
      device.queue.writeBuffer(
        state.settings,
        slot * SETTINGS_BYTES + 32,
        Uint32Array.of(allowed ? 1 : 0),
      );
    };
    return { launch, set, setMask };
  }

  /**
   * Log-probabilities of each row's token and of its most likely tokens, from the raw logits
   * (kernels/logprobs.wgsl), as records of {@linkcode LOGPROB_RECORD} words in `out`: the
   * target's id and log-probability, a count n, then n (id, log-probability) pairs. `decode`
   * follows {@linkcode Ops.sample} on the same rows: each pick's record goes to its
   * (slot, position) in a ring of `ringLength`, for the slots `setTop` gave a count (the
   * sample settings' last word). `score(top)` takes rows of logits whose targets are in
   * `targets`, recording row r at record `first` + r.
   */
  logprobs(
    logits: GPUBuffer,
    state: {
      ids: GPUBuffer;
      seq: GPUBuffer;
      settings: GPUBuffer;
      targets: GPUBuffer;
      out: GPUBuffer;
      ringLength: number;
      slots: number;
    },
    vocab: number,
  ) {
    const wg = this.#gpu.workgroups.reduce;
    const first = state.slots * state.ringLength;
    const launch = (mode: number, top: number, targets: GPUBuffer): Launch => {
      const l = this.#k.launch(kernel("logprobs"), wg, [
        this.#k.uniform([vocab, state.ringLength, mode, top, first, 0, 0, 0]),
        logits,
        targets,
        state.seq,
        state.settings,
        state.out,
      ]);
      return { record: (pass, rows) => l(pass, rows) };
    };
    const scores = new Map<number, Launch>();
    return {
      decode: launch(0, 0, state.ids),
      score: (top: number) => {
        if (!scores.has(top)) scores.set(top, launch(1, top, state.targets));
        return scores.get(top)!;
      },
      /** Slot `slot` records `top` alternatives per pick; undefined: no records. */
      setTop: (slot: number, top: number | undefined) => {
        const word = top === undefined ? 0 : Math.min(top, MAX_LOGPROBS) + 1;
        this.#gpu.device.queue.writeBuffer(
          state.settings,
          slot * SETTINGS_BYTES + 28,
          Uint32Array.of(word),
        );
      },
      first,
    };
  }

  /**
   * Writes rows [first, first + rows) of `w` (default: all) as f32 [rows, cols] into `out` (its
   * stride padding dropped): the matrix in any format read back as the kernels read it, for
   * training on a packed, frozen base.
   */
  dequantize(w: GpuMatrix, out: GPUBuffer, range = { first: 0, rows: w.rows }): Launch {
    const wg = this.#gpu.workgroups.elementwise;
    this.#unused ??= storageBuffer(this.#gpu.device, 16, "unused");
    const unused = this.#unused;
    const end = range.first + range.rows;
    const parts = w.parts.flatMap((p) => {
      const [from, to] = [Math.max(range.first, p.firstRow), Math.min(end, p.firstRow + p.rows)];
      if (from >= to) return [];
      const params = this.#k.uniform([
        to - from,
        w.cols,
        w.stride,
        from - range.first,
        from - p.firstRow,
        0,
        0,
        0,
      ]);
      const resources = [params, unused, p.buffer, out, ...(p.scales ? [p.scales] : [])];
      const l = this.#k.launch(kernel("dequantize", w.type), wg, resources);
      return [{ l, items: (to - from) * (w.stride / 8) }];
    });
    return { record: (pass) => parts.forEach((p) => p.l(pass, Math.ceil(p.items / wg))) };
  }

  /**
   * A packer for matrices uploaded as `source`: each call packs one part's [rows, stride]
   * values (stride a multiple of 32) into new quant and group-scale buffers and submits the work;
   * groups are fitted to their columns below `cols` only (the rest is padding). Parts holding
   * a weight the format cannot represent are reported by `unquantizable`. "bf16" rounds an f32
   * or f16 part to bf16 instead (no scales).
   */
  packer(format: PackFormat, source: ElementType): PartPacker {
    const wg = this.#gpu.workgroups.elementwise;
    const { device } = this.#gpu;
    const submit = (label: string, launch: (pass: GPUComputePassEncoder) => void) => {
      const encoder = device.createCommandEncoder({ label });
      const pass = encoder.beginComputePass();
      launch(pass);
      pass.end();
      device.queue.submit([encoder.finish()]);
    };
    if (format === "bf16") {
      if (source === "bf16") throw new Error("bf16 needs no conversion");
      return (src, { rows, stride }, label) => {
        const words = rows * stride / 2;
        const buffer = storageBuffer(device, words * 4, label);
        const params = uniformBuffer(device, [words], "convert.params");
        const l = this.#k.launch(kernel("convertBf16", source), wg, [params, buffer, src]);
        submit(`convert ${label}`, (pass) => l(pass, Math.ceil(words / wg)));
        params.destroy(); // safe: destruction waits for the submitted work
        return { buffer };
      };
    }
    this.#quantizeStatus ??= storageBuffer(device, 4, "quantize.status");
    const status = this.#quantizeStatus;
    return (src, { rows, cols, stride }, label) => {
      const groups = rows * stride / QUANT_GROUP;
      const buffer = storageBuffer(device, groups * QUANT_BYTES[format].quants, label);
      const scales = storageBuffer(device, groups * QUANT_BYTES[format].scales, `${label}.scales`);
      // q8 quantizes pairs of groups per invocation (their f16 scales share a u32); q5 groups of 64.
      const invocations = format === "q4" ? groups : groups / 2;
      const part = this.#quantizedParts.push(label); // ids from 1: the status starts at 0
      const params = uniformBuffer(device, [invocations, part, cols, stride], "quantize.params");
      const op = ({ q8: "quantizeQ8", q5: "quantizeQ5", q4: "quantizeQ4" } as const)[format];
      const l = this.#k.launch(kernel(op, source), wg, [params, buffer, src, scales, status]);
      submit(`quantize ${label}`, (pass) => l(pass, Math.ceil(invocations / wg)));
      params.destroy(); // safe: destruction waits for the submitted work
      return { buffer, scales };
    };
  }

  /**
   * The label of the last quantized part holding a NaN, an infinity or a weight beyond ±65504
   * (the f16 range of scales and minimums), if any: its quants are meaningless.
   */
  async unquantizable(): Promise<string | undefined> {
    if (!this.#quantizeStatus) return undefined;
    const [part] = new Uint32Array(await readBuffer(this.#gpu.device, this.#quantizeStatus, 4));
    return part ? this.#quantizedParts[part - 1] : undefined;
  }

  /** Reads all of `src` (bytes, a multiple of 16) with `workgroups` workgroups; for bandwidth measurement. */
  readAll(src: GPUBuffer, bytes: number, out: GPUBuffer, workgroups: number): Launch {
    const wg = this.#gpu.workgroups.matvec; // the access pattern of the decode matvecs
    const l = this.#k.launch(
      kernel("readBandwidth"),
      wg,
      [this.#k.uniform([bytes / 16]), src, out],
      {
        OWNED: this.#decode === "rows" ? 1 : 0,
      },
    );
    return { record: (pass) => l(pass, workgroups) };
  }

  /** An elementwise kernel (kernels/shared/elementwise) over `perToken` items per token. */
  #perToken(
    op: "rope" | "ropeKvWrite" | "siluMul",
    perToken: number,
    resources: GPUBuffer[],
  ): Launch {
    const wg = this.#gpu.workgroups.elementwise;
    const l = this.#k.launch(kernel(op), wg, resources);
    return { record: (pass, t) => l(pass, Math.ceil((t * perToken) / wg)) };
  }

  /** `iterations` rounds of 32 multiply-adds per invocation of `workgroups` workgroups; for the FMA peak. */
  fmaPeak(out: GPUBuffer, iterations: number, workgroups: number): Launch {
    const l = this.#k.launch(kernel("fmaPeak"), this.#gpu.workgroups.elementwise, [
      this.#k.uniform([iterations]),
      out,
    ]);
    return { record: (pass) => l(pass, workgroups) };
  }
}
