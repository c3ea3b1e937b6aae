/**
 * What `wgllama inspect` reports: hyperparameters, parameter counts, the tensor shapes of one
 * forward pass, and the memory a run needs. Plain data; formatting belongs to the CLI.
 * @module
 */
import { type DType, DTYPE_BYTES } from "../io/safetensors.ts";
import { matrixBytes, type PackFormat, QUANT_BYTES, ROW_ALIGN } from "../gpu/buffers.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { countParameters, expectedTensors, type ParameterCounts } from "./tensors.ts";
import { packing, vocabularyFormats } from "./quantization.ts";

/** Bytes per element of the KV cache as the GPU stores it (f32, as HF computes attention). */
export const KV_BYTES_PER_ELEMENT = 4;

const TORCH_DTYPES: Record<string, DType> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

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
    weightsSource: "files" | "config" | PackFormat;
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
  options: { weights?: PackFormat | undefined } = {},
): InspectReport {
  const c = ckpt.config;
  const weightsByDtype: Record<string, number> = {};
  // The dtype config.json declares, for when there are no weight files to read it from.
  const torchDtype = TORCH_DTYPES[c.torchDtype ?? "bfloat16"] ?? "BF16";
  const storedDtype = (name: string): DType => ckpt.weights?.tensors.get(name)?.dtype ?? torchDtype;
  if (options.weights) {
    // On the GPU after packing at load: layers in the format, the vocabulary matrices as
    // `vocabularyFormats` says (a tied embedding kept at 16 bits adds a quantized lm_head), norms f32.
    const vocab = vocabularyFormats(options.weights);
    const add = (key: string, bytes: number) =>
      weightsByDtype[key] = (weightsByDtype[key] ?? 0) + bytes;
    const packed = (type: PackFormat, rows: number, cols: number) => {
      const align = type === "bf16" ? ROW_ALIGN : QUANT_BYTES[type].align;
      add(type.toUpperCase(), matrixBytes({ type, rows, stride: Math.ceil(cols / align) * align }));
    };
    for (const e of expectedTensors(c)) {
      const [rows, cols] = e.shape;
      const format = e.component === "embed_tokens"
        ? vocab.embedding
        : e.component === "lm_head"
        ? vocab.lmHead
        : options.weights;
      const dtype = storedDtype(e.name);
      const pack = packing(format, dtype);
      if (cols === undefined) add("F32 (norms)", rows! * 4);
      else if (pack) packed(pack, rows!, cols);
      else add(dtype, rows! * cols * DTYPE_BYTES[dtype]);
      if (e.component === "embed_tokens" && c.tieWordEmbeddings && format !== vocab.lmHead) {
        packed(vocab.lmHead, rows!, cols!);
      }
    }
  } else if (ckpt.weights) {
    for (const e of expectedTensors(c)) {
      const t = ckpt.weights.tensors.get(e.name)!;
      weightsByDtype[t.dtype] = (weightsByDtype[t.dtype] ?? 0) + t.byteLength;
    }
  } else {
    weightsByDtype[torchDtype] = countParameters(c).total * DTYPE_BYTES[torchDtype];
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
