/**
 * What `wgllama inspect` reports: hyperparameters, parameter counts, the tensor shapes of one
 * forward pass, and the memory a run needs. Plain data; formatting belongs to the CLI.
 * @module
 */
import { type DType, DTYPE_BYTES } from "../io/safetensors.ts";
import { matrixBytes, QUANT_BYTES, type QuantFormat } from "../gpu/buffers.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { countParameters, expectedTensors, type ParameterCounts } from "./tensors.ts";

/** Bytes per element of the KV cache as the GPU stores it (f32, as HF computes attention). */
export const KV_BYTES_PER_ELEMENT = 4;

const TORCH_DTYPE_BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2 };

/** The full inspect report. */
export interface InspectReport {
  dir: string;
  config: Checkpoint["config"];
  parameters: ParameterCounts;
  /** One line per step of the forward pass: [step, shape]. */
  shapes: [string, string][];
  memory: {
    /** Bytes of weights by stored dtype (from the files, else estimated from torch_dtype). */
    weightsByDtype: Record<string, number>;
    weights: number;
    weightsSource: "files" | "config" | QuantFormat;
    contextLength: number;
    kvCache: number;
    total: number;
  };
  /** Tensors in the files that the model does not use. */
  extraTensors: readonly string[];
}

/** Builds the report for an opened checkpoint, sizing the KV cache for `contextLength` tokens. */
export function inspectCheckpoint(
  ckpt: Checkpoint,
  contextLength: number,
  options: { weights?: QuantFormat | undefined } = {},
): InspectReport {
  const c = ckpt.config;
  const weightsByDtype: Record<string, number> = {};
  if (options.weights) {
    // On the GPU after quantizing at load: layers in the format, vocabulary matrices at q8, norms f32.
    for (const e of expectedTensors(c)) {
      const [rows, cols] = e.shape;
      const vocab = e.component === "embed_tokens" || e.component === "lm_head";
      const type: QuantFormat | undefined = cols === undefined
        ? undefined
        : vocab
        ? "q8"
        : options.weights;
      const key = type === undefined ? "F32 (norms)" : type.toUpperCase();
      const align = type === undefined ? 1 : QUANT_BYTES[type].align;
      const bytes = type === undefined
        ? rows! * 4
        : matrixBytes({ type, rows: rows!, stride: Math.ceil(cols! / align) * align });
      weightsByDtype[key] = (weightsByDtype[key] ?? 0) + bytes;
    }
  } else if (ckpt.weights) {
    for (const e of expectedTensors(c)) {
      const t = ckpt.weights.tensors.get(e.name)!;
      weightsByDtype[t.dtype] = (weightsByDtype[t.dtype] ?? 0) + t.byteLength;
    }
  } else {
    const dtype = c.torchDtype ?? "bfloat16";
    const bytes = TORCH_DTYPE_BYTES[dtype] ?? 2;
    const name =
      ({ 4: "F32", 2: dtype === "float16" ? "F16" : "BF16" } as Record<number, DType>)[bytes]!;
    weightsByDtype[name] = countParameters(c).total * DTYPE_BYTES[name];
  }
  const weights = Object.values(weightsByDtype).reduce((a, b) => a + b, 0);
  const kvCache = 2 * c.numHiddenLayers * contextLength * c.kvDim * KV_BYTES_PER_ELEMENT;
  const { hiddenSize: D, numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: Hd } = c;
  const shapes: [string, string][] = [
    ["input_ids", "(batch, seq)"],
    ["embed_tokens", `(batch, seq, ${D})`],
    [`× ${c.numHiddenLayers} layers: input_layernorm`, `(batch, seq, ${D})`],
    ["  q_proj → heads", `(batch, seq, ${c.qDim}) → (batch, ${H}, seq, ${Hd})`],
    ["  k_proj, v_proj → heads", `(batch, seq, ${c.kvDim}) → (batch, ${Hkv}, seq, ${Hd})`],
    ["  rope(q, k); repeat_kv ×" + c.groupSize, `(batch, ${H}, seq, ${Hd})`],
    ["  softmax(q·kᵀ/√Hd + causal mask)", `(batch, ${H}, seq, seq)`],
    ["  scores·v → merge heads", `(batch, ${H}, seq, ${Hd}) → (batch, seq, ${c.qDim})`],
    ["  o_proj + residual", `(batch, seq, ${D})`],
    ["  post_attention_layernorm", `(batch, seq, ${D})`],
    ["  gate_proj, up_proj → silu(gate)·up", `(batch, seq, ${c.intermediateSize})`],
    ["  down_proj + residual", `(batch, seq, ${D})`],
    ["norm", `(batch, seq, ${D})`],
    [
      c.tieWordEmbeddings ? "lm_head (tied to embed_tokens)" : "lm_head",
      `(batch, seq, ${c.vocabSize})`,
    ],
  ];
  return {
    dir: ckpt.dir,
    config: c,
    parameters: countParameters(c),
    shapes,
    memory: {
      weightsByDtype,
      weights,
      weightsSource: options.weights ?? (ckpt.weights ? "files" : "config"),
      contextLength,
      kvCache,
      total: weights + kvCache,
    },
    extraTensors: ckpt.extraTensors,
  };
}
