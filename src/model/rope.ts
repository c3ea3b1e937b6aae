/**
 * RoPE frequencies on the host, in float64 as Hugging Face's `_compute_default_rope_parameters` and
 * `_compute_llama3_parameters` define them, then cos/sin tables per position rounded to f32 once.
 * @module
 */
import type { LlamaConfig } from "./config.ts";

/** inv_freq[j] = 1 / theta^(2j / head_dim), with llama3 scaling when configured. [head_dim / 2] */
export function inverseFrequencies(c: LlamaConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = Float64Array.from(
    { length: half },
    (_, j) => 1 / c.ropeTheta ** ((2 * j) / c.headDim),
  );
  const s = c.ropeScaling;
  if (!s) return inv;
  // Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
      (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** cos and sin of position · inv_freq for positions 0..contextLength-1. Each [contextLength, head_dim / 2]. */
export function ropeTables(
  c: LlamaConfig,
  contextLength: number,
): { cos: Float32Array<ArrayBuffer>; sin: Float32Array<ArrayBuffer> } {
  const inv = inverseFrequencies(c);
  const half = inv.length;
  const cos = new Float32Array(contextLength * half);
  const sin = new Float32Array(contextLength * half);
  for (let p = 0; p < contextLength; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p * inv[j]!;
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
