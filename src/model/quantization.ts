/**
 * Which format each matrix takes when a model is packed at load (`--weights bf16|q8|q5|q4`): one
 * policy for the loader and for the memory `inspect` reports.
 * @module
 */
import type { PackFormat } from "../gpu/buffers.ts";
import type { DType } from "../io/safetensors.ts";

/**
 * How a matrix is kept on the GPU: packed at load, or "stored16" — as the checkpoint stores it when
 * that is 16-bit (bf16, f16), else rounded to bf16.
 */
export type MatrixFormat = PackFormat | "stored16";

/**
 * The vocabulary matrices' formats under `format` (the decoder layers take `format` itself).
 * Under bf16 every matrix is bf16.
 *
 * The embedding is gathered one row per token, not streamed, so keeping it at 16 bits costs
 * memory but no decode bandwidth, while its rounding error would enter every layer: under q8 it
 * was half of the KL divergence on the fixtures. Under q4 it takes q8: its error is small beside
 * the layers' and Llama-3-8B must fit 5.5 GB. lm_head is read every token and is the most
 * sensitive streamed matrix: q8 under both (a quantized copy when the embedding is tied).
 */
export function vocabularyFormats(
  format: PackFormat,
): { embedding: MatrixFormat; lmHead: PackFormat } {
  if (format === "bf16") return { embedding: "bf16", lmHead: "bf16" };
  return { embedding: format === "q8" ? "stored16" : "q8", lmHead: "q8" };
}

/** The packing a matrix stored as `dtype` gets for `format` (undefined: upload the stored bytes). */
export function packing(format: MatrixFormat, dtype: DType): PackFormat | undefined {
  if (format === "stored16") return dtype === "F32" ? "bf16" : undefined;
  if (format === "bf16") return dtype === "BF16" ? undefined : "bf16";
  return format;
}
