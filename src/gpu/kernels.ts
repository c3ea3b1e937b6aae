/**
 * The only importer of `kernels/*.wgsl`: every kernel's source, embedded in the module graph (and
 * so in `deno compile` binaries), with the kinds of its bindings in order. A kernel that reads a
 * matrix in any of its stored formats is composed: the format's part (`kernels/formats/`, which
 * declares the matrix's bindings and how an element is read) joined before the op's body. Plain
 * concatenation of valid WGSL with a fixed function contract; no text macros.
 * @module
 */
import formatF32 from "../../kernels/formats/f32.wgsl" with { type: "text" };
import formatF16 from "../../kernels/formats/f16.wgsl" with { type: "text" };
import formatBf16 from "../../kernels/formats/bf16.wgsl" with { type: "text" };
import formatQ8 from "../../kernels/formats/q8.wgsl" with { type: "text" };
import formatQ5 from "../../kernels/formats/q5.wgsl" with { type: "text" };
import nibbles from "../../kernels/formats/nibbles.wgsl" with { type: "text" };
import formatQ4 from "../../kernels/formats/q4.wgsl" with { type: "text" };
import convertBf16 from "../../kernels/convert_bf16.wgsl" with { type: "text" };
import embedding from "../../kernels/embedding.wgsl" with { type: "text" };
import matmul from "../../kernels/matmul.wgsl" with { type: "text" };
import matvec from "../../kernels/matvec.wgsl" with { type: "text" };
import matvecRows from "../../kernels/matvec_rows.wgsl" with { type: "text" };
import matvecGrouped from "../../kernels/matvec_grouped.wgsl" with { type: "text" };
import matvecRowsGrouped from "../../kernels/matvec_rows_grouped.wgsl" with { type: "text" };
import quantizeQ8 from "../../kernels/quantize_q8.wgsl" with { type: "text" };
import quantizeAsym from "../../kernels/quantize_asym.wgsl" with { type: "text" };
import packingQ5 from "../../kernels/packing/q5.wgsl" with { type: "text" };
import packingQ4 from "../../kernels/packing/q4.wgsl" with { type: "text" };
import attention from "../../kernels/attention.wgsl" with { type: "text" };
import attentionCombine from "../../kernels/attention_combine.wgsl" with { type: "text" };
import attentionDecode from "../../kernels/attention_decode.wgsl" with { type: "text" };
import crossEntropy from "../../kernels/cross_entropy.wgsl" with { type: "text" };
import kvWrite from "../../kernels/kv_write.wgsl" with { type: "text" };
import readBandwidth from "../../kernels/read_bandwidth.wgsl" with { type: "text" };
import readBandwidthRows from "../../kernels/read_bandwidth_rows.wgsl" with { type: "text" };
import rmsnorm from "../../kernels/rmsnorm.wgsl" with { type: "text" };
import rope from "../../kernels/rope.wgsl" with { type: "text" };
import sample from "../../kernels/sample.wgsl" with { type: "text" };
import siluMul from "../../kernels/silu_mul.wgsl" with { type: "text" };
import sumInto from "../../kernels/sum_into.wgsl" with { type: "text" };

/** Kind of one binding: uniform, read-only storage, or read-write storage. */
export type BindingKind = "uniform" | "read" | "write";

const U = "uniform";
const R = "read";
const W = "write";
const LINEAR: BindingKind[] = [U, U, R, R, W];
/** Quantized linear kernels add the group scales as binding 5. */
const QUANT_LINEAR: BindingKind[] = [U, U, R, R, W, R];
/** Quantizers: quants, source, scales, and a status word flagging weights they cannot hold. */
const QUANTIZE: BindingKind[] = [U, U, W, R, W, W];

/** The formats a stored matrix can have, by the part that reads it. */
const FORMATS = {
  f32: formatF32,
  f16: formatF16,
  bf16: formatBf16,
  q8: formatQ8,
  q5: `${nibbles}\n${formatQ5}`,
  q4: `${nibbles}\n${formatQ4}`,
};
/** The float formats weights are uploaded in (sources of packing at load). */
const SOURCES = { f32: formatF32, f16: formatF16, bf16: formatBf16 };

/** A composed kernel: a format's part, then the op's body. */
function compose(format: string, body: string): string {
  return `${format}\n${body}`;
}

/**
 * Quantizers and the bf16 converter read their source through a float format; the asymmetric
 * quantizer writes through a packing part (q5, q4).
 */
const QUANTIZERS = {
  q8: quantizeQ8,
  q5: `${packingQ5}\n${quantizeAsym}`,
  q4: `${packingQ4}\n${quantizeAsym}`,
};

/** Every kernel: WGSL source and binding kinds (binding i = index i). */
export const KERNELS = {
  matvecF32: { source: compose(FORMATS.f32, matvec), bindings: LINEAR },
  matvecF16: { source: compose(FORMATS.f16, matvec), bindings: LINEAR },
  matvecBf16: { source: compose(FORMATS.bf16, matvec), bindings: LINEAR },
  matvecRowsF32: { source: compose(FORMATS.f32, matvecRows), bindings: LINEAR },
  matvecRowsF16: { source: compose(FORMATS.f16, matvecRows), bindings: LINEAR },
  matvecRowsBf16: { source: compose(FORMATS.bf16, matvecRows), bindings: LINEAR },
  matvecQ8: { source: compose(FORMATS.q8, matvecGrouped), bindings: QUANT_LINEAR },
  matvecQ5: { source: compose(FORMATS.q5, matvecGrouped), bindings: QUANT_LINEAR },
  matvecQ4: { source: compose(FORMATS.q4, matvecGrouped), bindings: QUANT_LINEAR },
  matvecRowsQ8: { source: compose(FORMATS.q8, matvecRowsGrouped), bindings: QUANT_LINEAR },
  matvecRowsQ5: { source: compose(FORMATS.q5, matvecRowsGrouped), bindings: QUANT_LINEAR },
  matvecRowsQ4: { source: compose(FORMATS.q4, matvecRowsGrouped), bindings: QUANT_LINEAR },
  matmulF32: { source: compose(FORMATS.f32, matmul), bindings: LINEAR },
  matmulF16: { source: compose(FORMATS.f16, matmul), bindings: LINEAR },
  matmulBf16: { source: compose(FORMATS.bf16, matmul), bindings: LINEAR },
  matmulQ8: { source: compose(FORMATS.q8, matmul), bindings: QUANT_LINEAR },
  matmulQ5: { source: compose(FORMATS.q5, matmul), bindings: QUANT_LINEAR },
  matmulQ4: { source: compose(FORMATS.q4, matmul), bindings: QUANT_LINEAR },
  embeddingF32: { source: compose(FORMATS.f32, embedding), bindings: LINEAR },
  embeddingF16: { source: compose(FORMATS.f16, embedding), bindings: LINEAR },
  embeddingBf16: { source: compose(FORMATS.bf16, embedding), bindings: LINEAR },
  embeddingQ8: { source: compose(FORMATS.q8, embedding), bindings: QUANT_LINEAR },
  embeddingQ5: { source: compose(FORMATS.q5, embedding), bindings: QUANT_LINEAR },
  embeddingQ4: { source: compose(FORMATS.q4, embedding), bindings: QUANT_LINEAR },
  convertBf16F32: { source: compose(SOURCES.f32, convertBf16), bindings: [U, U, W, R] },
  convertBf16F16: { source: compose(SOURCES.f16, convertBf16), bindings: [U, U, W, R] },
  quantizeQ8F32: { source: compose(SOURCES.f32, QUANTIZERS.q8), bindings: QUANTIZE },
  quantizeQ8F16: { source: compose(SOURCES.f16, QUANTIZERS.q8), bindings: QUANTIZE },
  quantizeQ8Bf16: { source: compose(SOURCES.bf16, QUANTIZERS.q8), bindings: QUANTIZE },
  quantizeQ5F32: { source: compose(SOURCES.f32, QUANTIZERS.q5), bindings: QUANTIZE },
  quantizeQ5F16: { source: compose(SOURCES.f16, QUANTIZERS.q5), bindings: QUANTIZE },
  quantizeQ5Bf16: { source: compose(SOURCES.bf16, QUANTIZERS.q5), bindings: QUANTIZE },
  quantizeQ4F32: { source: compose(SOURCES.f32, QUANTIZERS.q4), bindings: QUANTIZE },
  quantizeQ4F16: { source: compose(SOURCES.f16, QUANTIZERS.q4), bindings: QUANTIZE },
  quantizeQ4Bf16: { source: compose(SOURCES.bf16, QUANTIZERS.q4), bindings: QUANTIZE },
  rmsnorm: { source: rmsnorm, bindings: [U, U, R, R, W] },
  rope: { source: rope, bindings: [U, U, R, R, W, R] },
  kvWrite: { source: kvWrite, bindings: [U, U, R, W, W, R] },
  attention: { source: attention, bindings: [U, U, R, R, R, W, R] },
  attentionDecode: { source: attentionDecode, bindings: [U, U, R, R, R, W, R] },
  attentionCombine: { source: attentionCombine, bindings: [U, U, R, W, R] },
  siluMul: { source: siluMul, bindings: [U, U, R, W] },
  sample: { source: sample, bindings: [U, U, R, W, W, W, W, R] },
  crossEntropy: { source: crossEntropy, bindings: [U, U, R, R, W] },
  sumInto: { source: sumInto, bindings: [U, R, W] },
  readBandwidth: { source: readBandwidth, bindings: [U, U, R, W] },
  readBandwidthRows: { source: readBandwidthRows, bindings: [U, U, R, W] },
} as const satisfies Record<string, { source: string; bindings: readonly BindingKind[] }>;

/** A kernel's name. */
export type KernelName = keyof typeof KERNELS;
