/**
 * Uploads a checkpoint's tensors (HF names) from the memory map to GPU buffers, one tensor at a
 * time, in their stored dtype; norms are widened to f32 on the host (they are tiny).
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { type ElementType, type GpuMatrix, uploadArray, uploadMatrix } from "../gpu/buffers.ts";
import type { DType, TensorInfo, TensorStore } from "../io/safetensors.ts";
import type { LlamaConfig } from "./config.ts";

/** One decoder layer's weights. Matrices are [out, in] as HF stores them. */
export interface LayerWeights {
  readonly inputLayernorm: GPUBuffer; // f32 [D]
  readonly qProj: GpuMatrix; // [H·Hd, D]
  readonly kProj: GpuMatrix; // [Hkv·Hd, D]
  readonly vProj: GpuMatrix; // [Hkv·Hd, D]
  readonly oProj: GpuMatrix; // [D, H·Hd]
  readonly postAttentionLayernorm: GPUBuffer; // f32 [D]
  readonly gateProj: GpuMatrix; // [F, D]
  readonly upProj: GpuMatrix; // [F, D]
  readonly downProj: GpuMatrix; // [D, F]
}

/** All weights of the network on the GPU. */
export interface LlamaWeights {
  readonly embedTokens: GpuMatrix; // [V, D]
  readonly layers: readonly LayerWeights[];
  readonly norm: GPUBuffer; // f32 [D]
  readonly lmHead: GpuMatrix; // [V, D] (the embedding itself when tied)
  /** Bytes uploaded. */
  readonly bytes: number;
}

const ELEMENT: Record<DType, ElementType> = { F32: "f32", F16: "f16", BF16: "bf16" };

/** Reports progress of an upload in bytes. */
export type UploadProgress = (done: number, total: number) => void;

/** Uploads every tensor of `store` that `config` needs. Tensors were checked by `checkTensors`. */
export function uploadWeights(
  gpu: Gpu,
  config: LlamaConfig,
  store: TensorStore,
  onProgress?: UploadProgress,
): LlamaWeights {
  if (config.attentionBias || config.mlpBias) {
    throw new InputError(
      "config.json: attention_bias/mlp_bias true is not supported yet: expected false (as in Llama 3)",
    );
  }
  const get = (name: string): TensorInfo => store.tensors.get(name)!;
  const names = [...store.tensors.keys()].filter((n) =>
    n.startsWith("model.") || n === "lm_head.weight"
  );
  const total = names.reduce((a, n) => a + get(n).byteLength, 0);
  let done = 0;
  const advance = (t: TensorInfo) => onProgress?.(done += t.byteLength, total);
  const maxBindingBytes = gpu.limits.maxStorageBufferBindingSize;

  const matrix = (name: string): GpuMatrix => {
    const t = get(name);
    const m = uploadMatrix(gpu.device, store.bytes(t), {
      type: ELEMENT[t.dtype],
      rows: t.shape[0]!,
      cols: t.shape[1]!,
      maxBindingBytes,
      label: name,
    });
    advance(t);
    return m;
  };
  const vector = (name: string): GPUBuffer => {
    const t = get(name);
    const b = uploadArray(gpu.device, toF32(store.bytes(t), t.dtype), name);
    advance(t);
    return b;
  };

  const embedTokens = matrix("model.embed_tokens.weight");
  const layers = Array.from({ length: config.numHiddenLayers }, (_, l): LayerWeights => {
    const p = `model.layers.${l}.`;
    return {
      inputLayernorm: vector(`${p}input_layernorm.weight`),
      qProj: matrix(`${p}self_attn.q_proj.weight`),
      kProj: matrix(`${p}self_attn.k_proj.weight`),
      vProj: matrix(`${p}self_attn.v_proj.weight`),
      oProj: matrix(`${p}self_attn.o_proj.weight`),
      postAttentionLayernorm: vector(`${p}post_attention_layernorm.weight`),
      gateProj: matrix(`${p}mlp.gate_proj.weight`),
      upProj: matrix(`${p}mlp.up_proj.weight`),
      downProj: matrix(`${p}mlp.down_proj.weight`),
    };
  });
  const norm = vector("model.norm.weight");
  const lmHead = config.tieWordEmbeddings ? embedTokens : matrix("lm_head.weight");
  return { embedTokens, layers, norm, lmHead, bytes: done };
}

/** Widens a small stored vector to f32 on the host. */
function toF32(bytes: Uint8Array, dtype: DType): Float32Array<ArrayBuffer> {
  const copy = bytes.slice(); // aligned copy of a small tensor
  if (dtype === "F32") return new Float32Array(copy.buffer);
  if (dtype === "F16") return Float32Array.from(new Float16Array(copy.buffer));
  const half = new Uint16Array(copy.buffer);
  return new Float32Array(Uint32Array.from(half, (h) => h << 16).buffer);
}
