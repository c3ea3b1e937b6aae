/**
 * Uploads a checkpoint's tensors (HF names) from the memory map to GPU buffers, one tensor at a
 * time, in their stored dtype or packed on the GPU while loading (rounded to bf16, or quantized to
 * q8/q4); norms are widened to f32 on the host (they are tiny).
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import {
  ELEMENT_BYTES,
  type ElementType,
  type GpuMatrix,
  inTurns,
  type PackFormat,
  uploadArray,
  Uploader,
  uploadMatrix,
} from "../gpu/buffers.ts";
import type { Ops } from "../gpu/ops.ts";
import { type DType, type TensorInfo, type TensorStore, toF32 } from "../io/safetensors.ts";
import { type Adapter, mergeDelta } from "./adapter.ts";
import type { LlamaConfig } from "./config.ts";
import { type MatrixFormat, packing, vocabularyFormats } from "./quantization.ts";

/** One decoder layer's weights. Matrices are [out, in] as HF stores them. */
export interface LayerWeights {
  readonly inputLayernorm: GPUBuffer; // f32 [D] (zero padded to a multiple of 4, as every norm)
  readonly qkvProj: GpuMatrix; // [H·Hd + 2·Hkv·Hd, D]: q_proj, k_proj, v_proj stacked by rows
  readonly oProj: GpuMatrix; // [D, H·Hd]
  readonly postAttentionLayernorm: GPUBuffer; // f32 [D]
  /** [2·⌈F/4⌉·4, D]: gate_proj and up_proj rows in turn, 4 at a time (for the silu·mul output). */
  readonly gateUpProj: GpuMatrix;
  readonly downProj: GpuMatrix; // [D, F]
}

/** All weights of the network on the GPU. */
export interface LlamaWeights {
  readonly embedTokens: GpuMatrix; // [V, D]
  readonly layers: readonly LayerWeights[];
  readonly norm: GPUBuffer; // f32 [D]
  readonly lmHead: GpuMatrix; // [V, D] (the embedding itself when tied, unless quantized apart)
  /** Bytes uploaded. */
  readonly bytes: number;
}

const ELEMENT: Record<DType, ElementType> = { F32: "f32", F16: "f16", BF16: "bf16" };

/** Rearranges tensors' rows (as views): given each tensor's bytes and a row's bytes. */
export type RowOrder = (
  tensors: Uint8Array<ArrayBuffer>[],
  rowBytes: number,
) => Uint8Array<ArrayBuffer>[];
/** Rows a product's output reads together (kernels/outputs/). */
const UNIT = 8;

/** gate_proj and up_proj rows alternate 4 at a time (kernels/outputs/silu_mul.wgsl). */
const gateUpOrder: RowOrder = (tensors, rowBytes) => inTurns(tensors, UNIT / 2, rowBytes);

/**
 * Each q and k head's rows j and j + headDim/2 (the pairs RoPE rotates together) alternate 4 at a
 * time; v stays in order (kernels/outputs/rope_kv.wgsl). headDim % 8 == 0.
 */
export function ropeOrder(headDim: number): RowOrder {
  return ([q, k, v], rowBytes) => {
    const head = headDim * rowBytes;
    const halves = (t: Uint8Array<ArrayBuffer>) =>
      Array.from({ length: t.length / head }, (_, h) => {
        const at = h * head;
        return inTurns(
          [t.subarray(at, at + head / 2), t.subarray(at + head / 2, at + head)],
          UNIT / 2,
          rowBytes,
        );
      }).flat();
    return [...halves(q!), ...halves(k!), v!];
  };
}

/** Reports progress of an upload in bytes. */
export type UploadProgress = (done: number, total: number) => void;

/** Uploads every tensor of `store` that `config` needs. Tensors were checked by `checkTensors`. */
export async function uploadWeights(
  gpu: Gpu,
  config: LlamaConfig,
  store: TensorStore,
  options: {
    onProgress?: UploadProgress | undefined;
    /** Pack the matrices at load: bf16/q8/q4 (vocabulary as `vocabularyFormats` says; norms f32). */
    pack?: { format: PackFormat; ops: Ops } | undefined;
    /** Merged into its targets (then uploaded as f32, or packed from f32). */
    adapter?: Adapter | undefined;
    /** Rows of q_proj and k_proj ordered for the rope_kv output (`ropeOrder`). */
    ropeOrder?: boolean;
  } = {},
): Promise<LlamaWeights> {
  const { onProgress, pack, adapter } = options;
  if (config.attentionBias || config.mlpBias) {
    throw new InputError(
      "config.json: attention_bias/mlp_bias true is not supported yet: expected false (as in Llama 3)",
    );
  }
  const get = (name: string): TensorInfo => store.tensors.get(name)!;
  const names = [...store.tensors.keys()].filter((n) =>
    n.startsWith("model.") || n === "lm_head.weight"
  );
  const vocab = pack && vocabularyFormats(pack.format);
  // A tied embedding kept at 16 bits gets a quantized copy as lm_head: its bytes are read twice.
  const lmHeadCopy = config.tieWordEmbeddings && vocab !== undefined &&
    vocab.embedding !== vocab.lmHead;
  const total = names.reduce((a, n) => a + get(n).byteLength, 0) +
    (lmHeadCopy ? get("model.embed_tokens.weight").byteLength : 0);
  let done = 0;
  const advance = (t: TensorInfo) => {
    store.release(t); // its bytes are on their way to the GPU: keep no second copy resident
    onProgress?.(done += t.byteLength, total);
  };
  const maxBindingBytes = gpu.limits.maxStorageBufferBindingSize;
  const uploader = new Uploader(gpu.device);

  /**
   * One matrix, or several with the same dtype and width stacked by rows (one launch for all); an
   * `order` rearranges the tensors' rows (views, given each tensor's bytes and a row's bytes) into
   * units of 8 rows that a product's output reads together.
   */
  const matrix = async (
    names: string[],
    format: MatrixFormat | undefined = pack?.format,
    order?: RowOrder,
  ): Promise<GpuMatrix> => {
    const ts = names.map(get);
    const cols = ts[0]!.shape[1]!;
    const dtypes = new Set(ts.map((t) => t.dtype));
    if (adapter && names.some((n) => adapter.delta(n))) {
      // W + s·B·A in f32, as PEFT computes it: each tensor of the group widened, deltas added.
      const merged = ts.map((t) => {
        const w = toF32(store.finiteBytes(t), t.dtype);
        const delta = adapter.delta(t.name);
        if (delta) mergeDelta(w, t.shape[0]!, t.shape[1]!, delta, adapter.scale);
        return new Uint8Array(w.buffer);
      });
      const packAs = pack && format && packing(format, "F32");
      const m = await uploadMatrix(uploader, order ? order(merged, cols * 4) : merged, {
        type: "f32",
        cols,
        maxBindingBytes,
        label: names.join("+"),
        pack: packAs && { format: packAs, part: pack!.ops.packer(packAs, "f32") },
        turn: order ? UNIT : 1,
      });
      ts.forEach(advance);
      return m;
    }
    if (dtypes.size > 1) {
      throw new InputError(
        `Tensors ${names.join(", ")} have different dtypes (${[...dtypes]}): expected one dtype`,
      );
    }
    const type = ELEMENT[ts[0]!.dtype];
    const packAs = pack && format && packing(format, ts[0]!.dtype);
    const bytes = ts.map((t) => store.finiteBytes(t));
    const m = await uploadMatrix(
      uploader,
      order ? order(bytes, cols * ELEMENT_BYTES[type]) : bytes,
      {
        type,
        cols,
        maxBindingBytes,
        label: names.join("+"),
        pack: packAs && { format: packAs, part: pack!.ops.packer(packAs, type) },
        turn: order ? UNIT : 1,
      },
    );
    ts.forEach(advance);
    return m;
  };
  /** A norm's weight in f32, zero padded to a multiple of 4 (read as vec4 where a product folds it). */
  const vector = (name: string): GPUBuffer => {
    const t = get(name);
    const values = toF32(store.finiteBytes(t), t.dtype);
    const padded = new Float32Array(Math.ceil(values.length / 4) * 4);
    padded.set(values);
    const b = uploadArray(gpu.device, padded, name);
    advance(t);
    return b;
  };

  const embedTokens = await matrix(["model.embed_tokens.weight"], vocab?.embedding);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    layers.push({
      inputLayernorm: vector(`${p}input_layernorm.weight`),
      qkvProj: await matrix(
        [
          `${p}self_attn.q_proj.weight`,
          `${p}self_attn.k_proj.weight`,
          `${p}self_attn.v_proj.weight`,
        ],
        pack?.format,
        options.ropeOrder ? ropeOrder(config.headDim) : undefined,
      ),
      oProj: await matrix([`${p}self_attn.o_proj.weight`]),
      postAttentionLayernorm: vector(`${p}post_attention_layernorm.weight`),
      gateUpProj: await matrix(
        [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`],
        pack?.format,
        gateUpOrder,
      ),
      downProj: await matrix([`${p}mlp.down_proj.weight`]),
    });
  }
  const norm = vector("model.norm.weight");
  const lmHead = !config.tieWordEmbeddings
    ? await matrix(["lm_head.weight"], vocab?.lmHead)
    : lmHeadCopy
    ? await matrix(["model.embed_tokens.weight"], vocab!.lmHead)
    : embedTokens;
  await uploader.flush();
  uploader.release();
  const unusable = await pack?.ops.unquantizable();
  if (unusable !== undefined) {
    throw new InputError(
      `${unusable}: holds a NaN, an infinity or a weight beyond ±65504, which --weights ${
        pack!.format
      } cannot represent (f16 scales): expected finite weights within ±65504, or load the stored weights`,
    );
  }
  return { embedTokens, layers, norm, lmHead, bytes: done };
}
