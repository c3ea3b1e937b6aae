/**
 * Plain CPU references of every kernel, written from the Hugging Face maths (not from our
 * kernels), accumulating in f64.
 */

/** x[t] = table[ids[t]] for table [V, dim]. */
export function embedding(table: Float32Array, ids: number[], dim: number): Float64Array {
  const out = new Float64Array(ids.length * dim);
  ids.forEach((id, t) => {
    for (let d = 0; d < dim; d++) out[t * dim + d] = table[id * dim + d]!;
  });
  return out;
}

/** HF LlamaRMSNorm: w * (x / sqrt(mean(x²) + eps)) per row. */
export function rmsnorm(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  dim: number,
  eps: number,
) {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = w[i]! * x[r * dim + i]! * inv;
  }
  return out;
}

/** y = x · Wᵀ for x [T, cols], W [rows, cols]. */
export function linear(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  tokens: number,
  rows: number,
  cols: number,
) {
  const out = new Float64Array(tokens * rows);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let k = 0; k < cols; k++) s += x[t * cols + k]! * w[r * cols + k]!;
      out[t * rows + r] = s;
    }
  }
  return out;
}

/** HF rotate_half RoPE on [T, heads, hd] at positions start+t with inverse frequencies invFreq. */
export function rope(
  x: ArrayLike<number>,
  tokens: number,
  heads: number,
  hd: number,
  start: number,
  invFreq: ArrayLike<number>,
) {
  const out = Float64Array.from(x);
  const half = hd / 2;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * hd;
      for (let j = 0; j < hd; j++) {
        const angle = (start + t) * invFreq[j % half]!;
        const rotated = j < half ? -x[base + j + half]! : x[base + j - half]!;
        out[base + j] = x[base + j]! * Math.cos(angle) + rotated * Math.sin(angle);
      }
    }
  }
  return out;
}

/**
 * Causal GQA attention as HF eager attention: softmax(q·kᵀ·scale + mask)·v with repeat_kv.
 * q [T, H, hd] for positions start..start+T-1; k, v [start+T, Hkv, hd].
 */
export function attention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  o: { tokens: number; start: number; heads: number; kvHeads: number; hd: number; scale: number },
) {
  const { tokens, start, heads, kvHeads, hd, scale } = o;
  const out = new Float64Array(tokens * heads * hd);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      const n = start + t + 1;
      const scores = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) {
          s += q[(t * heads + h) * hd + d]! * k[(j * kvHeads + g) * hd + d]!;
        }
        scores[j] = s * scale;
      }
      const max = Math.max(...scores);
      let sum = 0;
      for (let j = 0; j < n; j++) sum += scores[j] = Math.exp(scores[j]! - max);
      for (let d = 0; d < hd; d++) {
        let a = 0;
        for (let j = 0; j < n; j++) a += scores[j]! * v[(j * kvHeads + g) * hd + d]!;
        out[(t * heads + h) * hd + d] = a / sum;
      }
    }
  }
  return out;
}

/** silu(gate) · up. */
export function siluMul(gate: ArrayLike<number>, up: ArrayLike<number>) {
  return Float64Array.from(
    { length: gate.length },
    (_, i) => gate[i]! / (1 + Math.exp(-gate[i]!)) * up[i]!,
  );
}
