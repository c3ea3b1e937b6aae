/**
 * Builds the network on a device: uploads the checkpoint's weights, allocates scratch
 * activations and the KV cache, and prepares every launch (pipelines, bind groups, parameters),
 * so a forward pass only records dispatches.
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { matrixBytes, type PackFormat, storageBuffer, uploadArray } from "../gpu/buffers.ts";
import { type Launch, LOGPROB_RECORD, Ops, SETTINGS_BYTES } from "../gpu/ops.ts";
import type { SamplingParams } from "../gpu/sampling_params.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { LlamaConfig } from "./config.ts";
import { openAdapter } from "./adapter.ts";
import { ropeTables } from "./rope.ts";
import { type UploadProgress, uploadWeights } from "./weights.ts";

/** Sampled ids are kept by position in a ring this long; a decode batch takes at most this many steps. */
export const RING = 64;

/** Options of `Llama.load` (and `loadModel`). */
export interface LoadOptions {
  /** KV-cache length in tokens. @default min(max_position_embeddings, 4096) */
  contextLength?: number;
  /** Most tokens per forward pass (scratch rows). @default 128 on software adapters, else 512 */
  prefillChunk?: number;
  onProgress?: UploadProgress;
  /** Sequences the KV cache holds at once (for `decodeRows`). @default 1 */
  slots?: number;
  /** Pack the matrices at load (bf16; q8: int8, q4: 4-bit, groups of 32). @default as stored */
  weights?: PackFormat;
  /** A PEFT LoRA adapter folder, merged into the weights before they are packed. */
  adapter?: string;
}

/** The launches of one decoder layer, in forward order. */
export interface LayerLaunches {
  qkv: Launch;
  /** RoPE and the KV-cache write, where the qkv product cannot store them itself. */
  ropeKvWrite?: Launch;
  attention: Launch;
  oAdd: Launch;
  gateUp: Launch;
  downAdd: Launch;
}

/** What a loaded model is and holds: its config and the sizes chosen at load. */
export interface ModelSizes {
  readonly config: LlamaConfig;
  /** KV-cache length in tokens. */
  readonly contextLength: number;
  /** Most tokens one forward pass takes. */
  readonly prefillChunk: number;
  /** Most positions whose logits one forward pass can return (bounded by a binding). */
  readonly logitRows: number;
  /** Sequences the KV cache holds at once (batched decoding); slot 0 serves the single-sequence API. */
  readonly slots: number;
}

/** Everything a loaded model runs with. */
export interface Network {
  readonly sizes: ModelSizes;
  readonly ops: Ops;
  readonly ids: GPUBuffer; // u32 [C]
  readonly seq: GPUBuffer; // u32 [C, 2]: (slot, position) of each input token
  readonly logits: GPUBuffer; // f32 [logitRows, V]
  readonly launches: {
    embed: Launch;
    layers: LayerLaunches[];
    finalNormLast: Launch;
    lmHead: Launch;
    lmHeadLast: Launch;
    sample: Launch;
  };
  readonly sampler: {
    set(slot: number, s: SamplingParams): void;
    setMask(slot: number, allowed: Uint32Array<ArrayBuffer> | undefined): void;
    seen: GPUBuffer; // u32 [2, slots, ceil(V/32)]
    ring: GPUBuffer; // u32 [slots, RING]
  };
  /** Log-probability records (kernels/logprobs.wgsl): of the picks by (slot, position), then scored rows. */
  readonly logprobs: ReturnType<Ops["logprobs"]> & {
    records: GPUBuffer; // u32 [slots · RING + logitRows, LOGPROB_RECORD]
    targets: GPUBuffer; // u32 [logitRows] each scored row's next token
  };
  /** Each layer's KV cache, f32 [slots, context, Hkv·Hd] each. */
  readonly caches: readonly { k: GPUBuffer; v: GPUBuffer }[];
  /** Every buffer the model owns (weights, caches, scratch). */
  readonly buffers: GPUBuffer[];
  /** Weight bytes one decode step reads, and by launch name (for profiles). */
  readonly weightBytesRead: number;
  readonly bytesByLaunch: Record<string, number>;
}

/** Uploads the checkpoint's weights and prepares every launch. */
export async function buildNetwork(
  ckpt: Checkpoint,
  gpu: Gpu,
  options: LoadOptions = {},
): Promise<Network> {
  const c = ckpt.config;
  if (!ckpt.weights) throw new InputError(`Cannot load ${ckpt.dir}: it has no weights`);
  const ctx = options.contextLength ?? Math.min(c.maxPositionEmbeddings, 4096);
  const slots = options.slots ?? 1;
  const chunk = Math.max(
    slots,
    Math.min(options.prefillChunk ?? (gpu.software ? 128 : 512), ctx),
  );
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  if (slots * ctx * c.kvDim * 4 > maxBinding) {
    throw new InputError(
      `--ctx ${ctx} for ${slots} sequence(s) needs a ${
        slots * ctx * c.kvDim * 4
      }-byte KV cache per layer: this GPU binds at most ${maxBinding} bytes`,
    );
  }
  if (c.headDim > 256) {
    throw new InputError(`config.json: head_dim ${c.headDim} is not supported: expected ≤ 256`);
  }
  const { device } = gpu;
  const ops = new Ops(gpu);
  // The qkv product rotates q and k and writes the caches itself where a head is whole 8-row units
  // and the kernel may bind its 10 storage buffers; else a rope_kv_write launch follows it.
  const ropeInQkv = c.headDim % 8 === 0 && gpu.limits.maxStorageBuffersPerShaderStage >= 10;
  const w = await uploadWeights(gpu, c, ckpt.weights, {
    ropeOrder: ropeInQkv,
    onProgress: options.onProgress,
    pack: options.weights && { format: options.weights, ops },
    adapter: options.adapter === undefined ? undefined : openAdapter(options.adapter, c),
  });
  const buffers: GPUBuffer[] = [
    w.norm,
    ...w.layers.flatMap((l) => [l.inputLayernorm, l.postAttentionLayernorm]),
  ];
  for (
    const m of [
      w.embedTokens,
      w.lmHead,
      ...w.layers.flatMap((l) => [l.qkvProj, l.oProj, l.gateUpProj, l.downProj]),
    ]
  ) {
    for (const p of m.parts) buffers.push(p.buffer, ...(p.scales ? [p.scales] : []));
  }
  const { hiddenSize: D, intermediateSize: F, vocabSize: V, qDim, kvDim, rmsNormEps: eps } = c;
  const scratch = (floats: number, label: string) => {
    const b = storageBuffer(device, floats * 4, label);
    buffers.push(b);
    return b;
  };
  const logitRows = Math.max(1, Math.min(chunk, Math.floor(maxBinding / (V * 4))));
  // Scratch activations, sized for the largest forward pass.
  const ids = storageBuffer(device, chunk * 4, "ids"); // u32 [C]
  const seq = storageBuffer(device, chunk * 8, "seq"); // u32 [C, 2]: (slot, position) per token
  const x = scratch(chunk * D, "x"); // residual stream [C, D]
  const xn = scratch(D, "xn"); // the last token's normed row [1, D] (prefill's lm_head input)
  const qkvRow = qDim + 2 * kvDim;
  const qkv = scratch(chunk * qkvRow, "qkv"); // [C, H·Hd + 2·Hkv·Hd]: q | k | v per token
  const att = scratch(chunk * qDim, "att"); // [C, H·Hd]
  const h = scratch(chunk * F, "h"); // [C, F]
  const logits = scratch(logitRows * V, "logits"); // [logitRows, V]
  const { cos, sin } = ropeTables(c, ctx);
  const cosBuffer = uploadArray(device, cos, "rope.cos"); // [ctx, Hd/2]
  const sinBuffer = uploadArray(device, sin, "rope.sin"); // [ctx, Hd/2]
  buffers.push(ids, seq, cosBuffer, sinBuffer);
  const heads = { qHeads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim };
  const caches: { k: GPUBuffer; v: GPUBuffer }[] = [];
  const layers = w.layers.map((lw, l): LayerLaunches => {
    const kCache = scratch(slots * ctx * kvDim, `layer${l}.k_cache`); // [slots, ctx, Hkv·Hd]
    const vCache = scratch(slots * ctx * kvDim, `layer${l}.v_cache`); // [slots, ctx, Hkv·Hd]
    const cache = { k: kCache, v: vCache };
    caches.push(cache);
    const rope = { cos: cosBuffer, sin: sinBuffer, seq, caches: cache, context: ctx };
    const norm = { weight: lw.inputLayernorm, eps };
    return {
      qkv: ops.linear(x, lw.qkvProj, qkv, {
        norm,
        ...(ropeInQkv && { ropeKv: { ...heads, ...rope } }),
      }),
      ...(!ropeInQkv && {
        ropeKvWrite: ops.ropeKvWrite(qkv, cosBuffer, sinBuffer, seq, cache, {
          ...heads,
          row: qkvRow,
          context: ctx,
        }),
      }),
      attention: ops.attention(qkv, kCache, vCache, att, seq, {
        ...heads,
        scale: 1 / Math.sqrt(c.headDim),
        context: ctx,
        qRow: qkvRow,
        rows: slots,
      }),
      oAdd: ops.linear(att, lw.oProj, x, { accumulate: true }),
      gateUp: ops.linear(x, lw.gateUpProj, h, {
        norm: { weight: lw.postAttentionLayernorm, eps },
        siluMul: { width: F },
      }),
      downAdd: ops.linear(h, lw.downProj, x, { accumulate: true }),
    };
  });
  // u32 [2, slots, ceil(V/32)]: seen bits, then allowed bits (constrained output)
  const seen = storageBuffer(device, 2 * slots * Math.ceil(V / 32) * 4, "seen");
  const ring = storageBuffer(device, slots * RING * 4, "ring"); // u32 [slots, RING] picks by position
  const settings = storageBuffer(device, slots * SETTINGS_BYTES, "sample.settings"); // [slots]
  const sampler = ops.sample(
    logits,
    { seen, ring, ringLength: RING, seq, ids, settings, slots },
    V,
  );
  const records = storageBuffer(
    device,
    (slots * RING + logitRows) * LOGPROB_RECORD * 4,
    "logprobs",
  );
  const targets = storageBuffer(device, logitRows * 4, "logprobs.targets");
  const logprobs = ops.logprobs(
    logits,
    { ids, seq, settings, targets, out: records, ringLength: RING, slots },
    V,
  );
  buffers.push(seen, ring, settings, records, targets);
  const launches = {
    embed: ops.embedding(ids, w.embedTokens, x),
    layers,
    finalNormLast: ops.rmsnorm(x, w.norm, xn, { dim: D, eps, lastOnly: true }),
    lmHead: ops.linear(x, w.lmHead, logits, { norm: { weight: w.norm, eps } }),
    lmHeadLast: ops.linear(xn, w.lmHead, logits),
    sample: sampler.launch,
  };
  // Weight bytes each launch reads in one decode step, summed over the layers (for profiles).
  const bytesByLaunch: Record<string, number> = { lmHead: matrixBytes(w.lmHead) };
  for (const l of w.layers) {
    const reads = { qkv: l.qkvProj, oAdd: l.oProj, gateUp: l.gateUpProj, downAdd: l.downProj };
    for (const [name, m] of Object.entries(reads)) {
      bytesByLaunch[name] = (bytesByLaunch[name] ?? 0) + matrixBytes(m);
    }
  }
  const decodeWeightBytes = Object.values(bytesByLaunch).reduce((a, b) => a + b, 0) +
    (2 * c.numHiddenLayers + 1) * D * 4;
  return {
    sizes: { config: c, contextLength: ctx, prefillChunk: chunk, logitRows, slots },
    ops,
    ids,
    seq,
    logits,
    launches,
    sampler: { set: sampler.set, setMask: sampler.setMask, seen, ring },
    logprobs: { ...logprobs, records, targets },
    caches,
    buffers,
    weightBytesRead: decodeWeightBytes,
    bytesByLaunch,
  };
}
