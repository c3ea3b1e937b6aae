/**
 * Which format each matrix takes when a model is packed at load (`--weights bf16|q8|q4`): one
 * policy for the loader and for the memory `inspect` reports.
 * @module
 */
import type { PackFormat } from "../gpu/buffers.ts";

/** How a matrix is kept on the GPU: packed at load, or in the dtype the checkpoint stores. */
export type MatrixFormat = PackFormat | "stored";

/**
 * The vocabulary matrices' formats under `format` (the decoder layers take `format` itself).
 * Under bf16 every matrix is bf16.
 *
 * The embedding is gathered one row per token, not streamed, so keeping it as stored costs
 * memory but no decode bandwidth, while its rounding error would enter every layer: under q8 it
 * was half of the KL divergence on the fixtures. Under q4 it takes q8: its error is small beside
 * the layers' and Llama-3-8B must fit 5.5 GB. lm_head is read every token and is the most
 * sensitive streamed matrix: q8 under both (a quantized copy when the embedding is tied).
 */
export function vocabularyFormats(
  format: PackFormat,
): { embedding: MatrixFormat; lmHead: PackFormat } {
  if (format === "bf16") return { embedding: "bf16", lmHead: "bf16" };
  return { embedding: format === "q8" ? "stored" : "q8", lmHead: "q8" };
}
