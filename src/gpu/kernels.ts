/**
 * The only importer of `kernels/*.wgsl`: every kernel's source, embedded in the module graph (and
 * so in `deno compile` binaries), with the kinds of its bindings in order. A kernel is composed of
 * parts: the shared prelude (`kernels/shared/`), then for an op that reads a matrix the parts of
 * the matrix's format (`kernels/formats/`: its bindings and how its elements are read), for a
 * linear op its input (`kernels/inputs/`: x as stored, or RMS-normalised on the way in), then the
 * op's own parts, its body last. Plain concatenation of valid WGSL with a fixed function contract;
 * no text macros. One table, {@linkcode OPS}, says which formats (and inputs) each op is built for.
 * @module
 */
import prelude from "../../kernels/shared/prelude.wgsl" with { type: "text" };
import elementwise from "../../kernels/shared/elementwise.wgsl" with { type: "text" };
import reduce from "../../kernels/shared/reduce.wgsl" with { type: "text" };
import matvecX from "../../kernels/shared/matvec_x.wgsl" with { type: "text" };
import plainX from "../../kernels/formats/plain_x.wgsl" with { type: "text" };
import inputPlain from "../../kernels/inputs/plain.wgsl" with { type: "text" };
import inputRmsnorm from "../../kernels/inputs/rmsnorm.wgsl" with { type: "text" };
import outputPlain from "../../kernels/outputs/plain.wgsl" with { type: "text" };
import outputSiluMul from "../../kernels/outputs/silu_mul.wgsl" with { type: "text" };
import outputRopeKv from "../../kernels/outputs/rope_kv.wgsl" with { type: "text" };
import formatF32 from "../../kernels/formats/f32.wgsl" with { type: "text" };
import formatF16 from "../../kernels/formats/f16.wgsl" with { type: "text" };
import formatBf16 from "../../kernels/formats/bf16.wgsl" with { type: "text" };
import formatQ8 from "../../kernels/formats/q8.wgsl" with { type: "text" };
import formatQ5 from "../../kernels/formats/q5.wgsl" with { type: "text" };
import nibbles from "../../kernels/formats/nibbles.wgsl" with { type: "text" };
import formatQ4 from "../../kernels/formats/q4.wgsl" with { type: "text" };
import convertBf16 from "../../kernels/convert_bf16.wgsl" with { type: "text" };
import dequantize from "../../kernels/dequantize.wgsl" with { type: "text" };
import embedding from "../../kernels/embedding.wgsl" with { type: "text" };
import matmul from "../../kernels/matmul.wgsl" with { type: "text" };
import matmulLanes from "../../kernels/matmul_lanes.wgsl" with { type: "text" };
import matmulX from "../../kernels/shared/matmul_x.wgsl" with { type: "text" };
import matvec from "../../kernels/matvec.wgsl" with { type: "text" };
import matvecRows from "../../kernels/matvec_rows.wgsl" with { type: "text" };
import quantizeQ8 from "../../kernels/quantize_q8.wgsl" with { type: "text" };
import quantizeAsym from "../../kernels/quantize_asym.wgsl" with { type: "text" };
import packingQ5 from "../../kernels/packing/q5.wgsl" with { type: "text" };
import packingQ4 from "../../kernels/packing/q4.wgsl" with { type: "text" };
import attention from "../../kernels/attention.wgsl" with { type: "text" };
import attentionCombine from "../../kernels/attention_combine.wgsl" with { type: "text" };
import attentionDecode from "../../kernels/attention_decode.wgsl" with { type: "text" };
import attentionPrefill from "../../kernels/attention_prefill.wgsl" with { type: "text" };
import crossEntropy from "../../kernels/cross_entropy.wgsl" with { type: "text" };
import ropeKvWrite from "../../kernels/rope_kv_write.wgsl" with { type: "text" };
import fmaPeak from "../../kernels/fma_peak.wgsl" with { type: "text" };
import readBandwidth from "../../kernels/read_bandwidth.wgsl" with { type: "text" };
import rmsnorm from "../../kernels/rmsnorm.wgsl" with { type: "text" };
import rope from "../../kernels/rope.wgsl" with { type: "text" };
import sample from "../../kernels/sample.wgsl" with { type: "text" };
import sampleScan from "../../kernels/sample_scan.wgsl" with { type: "text" };
import sampleBins from "../../kernels/sample_bins.wgsl" with { type: "text" };
import sampleGather from "../../kernels/sample_gather.wgsl" with { type: "text" };
import sampling from "../../kernels/shared/sampling.wgsl" with { type: "text" };
import sliceStats from "../../kernels/shared/slice_stats.wgsl" with { type: "text" };
import sliceBins from "../../kernels/shared/slice_bins.wgsl" with { type: "text" };
import sliceGather from "../../kernels/shared/slice_gather.wgsl" with { type: "text" };
import logprobs from "../../kernels/logprobs.wgsl" with { type: "text" };
import logsumexp from "../../kernels/shared/logsumexp.wgsl" with { type: "text" };
import attentionRows from "../../kernels/shared/attention_rows.wgsl" with { type: "text" };
import siluMul from "../../kernels/silu_mul.wgsl" with { type: "text" };
import sumInto from "../../kernels/sum_into.wgsl" with { type: "text" };
import gemm from "../../kernels/gemm.wgsl" with { type: "text" };
import attentionTrain from "../../kernels/attention_train.wgsl" with { type: "text" };
import attentionGradQ from "../../kernels/attention_grad_q.wgsl" with { type: "text" };
import attentionGradKv from "../../kernels/attention_grad_kv.wgsl" with { type: "text" };
import rmsnormGrad from "../../kernels/rmsnorm_grad.wgsl" with { type: "text" };
import rmsnormWeightGrad from "../../kernels/rmsnorm_weight_grad.wgsl" with { type: "text" };
import siluMulGrad from "../../kernels/silu_mul_grad.wgsl" with { type: "text" };
import crossEntropyGrad from "../../kernels/cross_entropy_grad.wgsl" with { type: "text" };
import embeddingGrad from "../../kernels/embedding_grad.wgsl" with { type: "text" };
import adamw from "../../kernels/adamw.wgsl" with { type: "text" };
import dropout from "../../kernels/dropout.wgsl" with { type: "text" };
import squareSum from "../../kernels/square_sum.wgsl" with { type: "text" };

/** Kind of one binding: uniform, read-only storage, or read-write storage. */
export type BindingKind = "uniform" | "read" | "write";
/** Binding i's kind at index i; null where a kernel has no binding i (a format without scales). */
export type Bindings = (BindingKind | null)[];

const U = "uniform";
const R = "read";
const W = "write";

/** Every format a stored matrix can have: the parts that read it, the bindings it adds (scales). */
const FORMATS = {
  f32: { parts: [plainX, formatF32], bindings: [] },
  f16: { parts: [plainX, formatF16], bindings: [] },
  bf16: { parts: [plainX, formatBf16], bindings: [] },
  q8: { parts: [plainX, formatQ8], bindings: [R] },
  q5: { parts: [nibbles, formatQ5], bindings: [R] },
  q4: { parts: [nibbles, formatQ4], bindings: [R] },
} as const satisfies Record<string, { parts: string[]; bindings: BindingKind[] }>;

/** A stored matrix's format. */
export type Format = keyof typeof FORMATS;

/**
 * How a linear op takes its x: as stored, or normalised on the way in (RMSNorm folded into the
 * product, its weight at binding 6, after a quantized format's scales at 5).
 */
const INPUTS = {
  plain: { parts: [inputPlain], bindings: [] },
  rmsnorm: { parts: [inputRmsnorm], bindings: [R] },
} as const satisfies Record<string, { parts: string[]; bindings: BindingKind[] }>;
const INPUT_BINDING = 6;

/** A linear op's input. */
export type Input = keyof typeof INPUTS;

/**
 * How a linear op stores its results: as rows of y, SwiGLU of gate|up rows in turns, or q rotated
 * in place and k, v rotated into the KV cache (its bindings from 7).
 */
const OUTPUTS = {
  plain: { parts: [outputPlain], bindings: [] },
  siluMul: { parts: [outputSiluMul], bindings: [] },
  ropeKv: { parts: [outputRopeKv], bindings: [U, R, R, R, W, W] },
} as const satisfies Record<string, { parts: string[]; bindings: BindingKind[] }>;
const OUTPUT_BINDING = 7;

/** A linear op's output. */
export type Output = keyof typeof OUTPUTS;

/** How a linear op takes x and stores y (plain when not given). */
export interface LinearIo {
  input?: Input;
  output?: Output;
}

const ALL: Format[] = ["f32", "f16", "bf16", "q8", "q5", "q4"];
/** The formats weights are uploaded in: the sources the quantizers and the converter read. */
const FLOATS: Format[] = ["f32", "f16", "bf16"];
const LINEAR: BindingKind[] = [U, U, R, R, W];
/** Quantizers: quants, source, scales, and a status word flagging weights they cannot hold. */
const QUANTIZE: BindingKind[] = [U, U, W, R, W, W];
/** The sample kernels (kernels/shared/sampling.wgsl). */
const SAMPLE: BindingKind[] = [U, U, R, W, W, W, W, R, W, W];

interface Op {
  /** Joined after the prelude and the format's parts; the body last. */
  parts: string[];
  /** The op's own bindings, from 0; a format's follow them. */
  bindings: BindingKind[];
  /** The matrix formats it is built for; none: it reads no matrix. */
  formats?: Format[];
  /** A linear op: built for each input and output (kernels/inputs/, kernels/outputs/). */
  linear?: true;
}

/** Every op. */
export const OPS = {
  matvec: { parts: [matvecX, matvec], bindings: LINEAR, formats: ALL, linear: true },
  matvecRows: { parts: [matvecX, matvecRows], bindings: LINEAR, formats: ALL, linear: true },
  matmul: { parts: [matmulX, matmul], bindings: LINEAR, formats: ALL, linear: true },
  matmulLanes: { parts: [matmulX, matmulLanes], bindings: LINEAR, formats: ALL, linear: true },
  embedding: { parts: [elementwise, embedding], bindings: LINEAR, formats: ALL },
  dequantize: { parts: [elementwise, dequantize], bindings: LINEAR, formats: ALL },
  convertBf16: {
    parts: [elementwise, convertBf16],
    bindings: [U, U, W, R],
    formats: ["f32", "f16"],
  },
  quantizeQ8: { parts: [elementwise, quantizeQ8], bindings: QUANTIZE, formats: FLOATS },
  quantizeQ5: {
    parts: [elementwise, packingQ5, quantizeAsym],
    bindings: QUANTIZE,
    formats: FLOATS,
  },
  quantizeQ4: {
    parts: [elementwise, packingQ4, quantizeAsym],
    bindings: QUANTIZE,
    formats: FLOATS,
  },
  rmsnorm: { parts: [reduce, rmsnorm], bindings: [U, U, R, R, W] },
  rope: { parts: [elementwise, rope], bindings: [U, U, R, R, W, R] },
  ropeKvWrite: { parts: [elementwise, ropeKvWrite], bindings: [U, U, R, R, W, R, W, W] },
  attention: { parts: [attention], bindings: [U, U, R, R, R, W, R] },
  attentionDecode: { parts: [attentionDecode], bindings: [U, U, R, R, R, W, R] },
  attentionPrefill: { parts: [attentionPrefill], bindings: [U, U, R, R, R, W, R] },
  attentionCombine: { parts: [attentionCombine], bindings: [U, U, R, W, R] },
  siluMul: { parts: [elementwise, siluMul], bindings: [U, U, R, W] },
  sampleScan: { parts: [sampling, sliceStats, sampleScan], bindings: SAMPLE },
  sampleBins: { parts: [sampling, sliceBins, sampleBins], bindings: SAMPLE },
  sampleGather: { parts: [sampling, sliceGather, sampleGather], bindings: SAMPLE },
  sample: {
    parts: [sampling, reduce, sliceStats, sliceBins, sliceGather, sample],
    bindings: SAMPLE,
  },
  crossEntropy: { parts: [logsumexp, crossEntropy], bindings: [U, U, R, R, W] },
  logprobs: { parts: [logsumexp, logprobs], bindings: [U, U, R, R, R, R, W] },
  sumInto: { parts: [reduce, sumInto], bindings: [U, R, W] },
  // Training (src/gpu/train_ops.ts): f32 master weights, so no format parts.
  gemm: { parts: [gemm], bindings: [U, U, R, R, W] },
  attentionTrain: {
    parts: [elementwise, attentionRows, attentionTrain],
    bindings: [U, U, R, R, W, W],
  },
  attentionGradQ: {
    parts: [elementwise, attentionRows, attentionGradQ],
    bindings: [U, U, R, R, R, R, R, W, W],
  },
  attentionGradKv: {
    parts: [elementwise, attentionRows, attentionGradKv],
    bindings: [U, U, R, R, R, R, R, W],
  },
  rmsnormGrad: { parts: [reduce, rmsnormGrad], bindings: [U, U, R, R, R, W, W] },
  rmsnormWeightGrad: { parts: [elementwise, rmsnormWeightGrad], bindings: [U, U, R, R, R, W] },
  siluMulGrad: { parts: [elementwise, siluMulGrad], bindings: [U, U, R, R, W] },
  crossEntropyGrad: { parts: [logsumexp, crossEntropyGrad], bindings: [U, U, W, R, W] },
  embeddingGrad: { parts: [elementwise, embeddingGrad], bindings: [U, U, R, R, R, R, W] },
  adamw: { parts: [elementwise, adamw], bindings: [U, U, R, W, W, W] },
  dropout: { parts: [elementwise, dropout], bindings: [U, U, R, W] },
  squareSum: { parts: [reduce, squareSum], bindings: [U, U, R, W] },
  readBandwidth: { parts: [readBandwidth], bindings: [U, U, R, W] },
  fmaPeak: { parts: [fmaPeak], bindings: [U, U, W] },
} as const satisfies Record<string, Op>;

/** An op's name. */
export type OpName = keyof typeof OPS;

/** One compiled unit: an op, in a format when it reads a matrix, with its input and output when linear. */
export interface Kernel {
  /** `op`, `op.format`, then a linear op's input and output other than plain. */
  name: string;
  source: string;
  bindings: Bindings;
}

/**
 * The kernel of `op` reading its matrix in `format` (none for an op without a matrix), taking x
 * and storing y as `io` says (linear ops only).
 */
export function kernel(op: OpName, format?: Format, io: LinearIo = {}): Kernel {
  const spec: Op = OPS[op];
  if (
    (format === undefined) !== (spec.formats === undefined) ||
    (format && !spec.formats?.includes(format))
  ) {
    throw new Error(`no ${op} kernel for format ${format ?? "(none)"}`);
  }
  if ((io.input || io.output) && !spec.linear) throw new Error(`${op} takes no input or output`);
  const parts = format ? FORMATS[format] : { parts: [], bindings: [] };
  const bindings: Bindings = [...spec.bindings, ...parts.bindings];
  const input = io.input ?? "plain";
  const output = io.output ?? "plain";
  const linear = spec.linear ? [...INPUTS[input].parts, ...OUTPUTS[output].parts] : [];
  // An input's and an output's bindings have fixed numbers: null where a part before has none.
  for (
    const [first, more] of [[INPUT_BINDING, INPUTS[input]], [
      OUTPUT_BINDING,
      OUTPUTS[output],
    ]] as const
  ) {
    if (!spec.linear || !more.bindings.length) continue;
    while (bindings.length < first) bindings.push(null);
    bindings.push(...more.bindings);
  }
  const suffixes = spec.linear ? [input, output].filter((p) => p !== "plain") : [];
  return {
    name: [op, format, ...suffixes].filter(Boolean).join("."),
    source: [prelude, ...parts.parts, ...linear, ...spec.parts].join("\n"),
    bindings,
  };
}

/** Every kernel that can be built: each op in each of its formats (and inputs and outputs). */
export function allKernels(): Kernel[] {
  const ios: LinearIo[] = (Object.keys(INPUTS) as Input[]).flatMap((input) =>
    (Object.keys(OUTPUTS) as Output[]).map((output) => ({ input, output }))
  );
  return (Object.keys(OPS) as OpName[]).flatMap((op) => {
    const spec: Op = OPS[op];
    const variants = spec.linear ? ios : [{}];
    return spec.formats
      ? spec.formats.flatMap((f) => variants.map((io) => kernel(op, f, io)))
      : [kernel(op)];
  });
}
