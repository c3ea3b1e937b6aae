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

/** Round half to even, as WGSL's `round`. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * q8 of one group: v ≈ s·q, q in [−127, 127], s stored as f16. s is the least-squares scale of
 * the level set max|v| / (127 − c), c = 0 … 16, that leaves the least squared error. Returns the
 * weights the group stands for.
 */
export function quantizeQ8(v: ArrayLike<number>): Float64Array {
  const big = Math.max(...Array.from(v, Math.abs));
  let scale = 0;
  let gain = 0;
  for (let c = 0; big > 0 && c <= 16; c++) {
    let [svl, sll] = [0, 0];
    for (let k = 0; k < v.length; k++) {
      const l = roundEven(v[k]! * (127 - c) / big);
      [svl, sll] = [svl + v[k]! * l, sll + l * l];
    }
    if (sll > 0 && svl * svl / sll > gain) [gain, scale] = [svl * svl / sll, svl / sll];
  }
  const s = Math.f16round(scale);
  return Float64Array.from(
    v,
    (x) => s > 0 ? Math.min(127, Math.max(-127, roundEven(x / s))) * s : 0,
  );
}

/**
 * q4 of one group (q5: `top` 31): v ≈ s·q + m, q in [0, top], (s, m) stored as f16. (s, m) is the
 * least-squares fit with the least squared error among the level sets min + (max − min)·l /
 * (top + c), c = −1 … 1 by ¼, each also refitted once after rounding to its fitted grid.
 */
export function quantizeQ4(v: ArrayLike<number>, top = 15): Float64Array {
  const n = v.length;
  const lo = Math.min(...Array.from(v));
  const hi = Math.max(...Array.from(v));
  const fit = (low: number, step: number) => {
    const l = Array.from(v, (x) => Math.min(top, Math.max(0, roundEven((x - low) / step))));
    const [sl, sll] = [l.reduce((a, b) => a + b, 0), l.reduce((a, b) => a + b * b, 0)];
    const sv = Array.from(v).reduce((a, b) => a + b, 0);
    const svl = l.reduce((a, b, k) => a + b * v[k]!, 0);
    const det = n * sll - sl * sl;
    if (det <= 0) return { s: 0, m: low, err: Infinity };
    const s = (n * svl - sl * sv) / det;
    const m = (sv - s * sl) / n;
    return { s, m, err: l.reduce((a, b, k) => a + (v[k]! - s * b - m) ** 2, 0) };
  };
  let best = { s: (hi - lo) / top, m: lo, err: Infinity };
  for (let c = 0; hi > lo && c < 9; c++) {
    const first = fit(lo, (hi - lo) / (top - 1 + c / 4));
    const refit = first.s > 0 ? fit(first.m, first.s) : first;
    for (const f of [first, refit]) if (f.err < best.err) best = f;
  }
  const [s, m] = [Math.f16round(best.s), Math.f16round(best.m)];
  return Float64Array.from(
    v,
    (x) => (s > 0 ? Math.min(top, Math.max(0, roundEven((x - m) / s))) : 0) * s + m,
  );
}

/** −log softmax(logits[r])[targets[r]] per row in float64; a negative target (ignored) gives 0. */
export function crossEntropy(
  logits: Float32Array | Float64Array,
  targets: readonly number[],
  vocab: number,
): Float64Array {
  return Float64Array.from(targets, (target, r) => {
    if (target < 0) return 0;
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    return Math.log(sum) + max - row[target]!;
  });
}

/**
 * log_softmax(row) in float64 at `target`, and the `top` most likely tokens (largest logit first,
 * the lower id first on ties) with theirs.
 */
export function logprobs(
  row: Float32Array | Float64Array,
  target: number,
  top: number,
): { logprob: number; top: { id: number; logprob: number }[] } {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const logZ = max + Math.log(sum);
  const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
  return {
    logprob: row[target]! - logZ,
    top: order.slice(0, top).map((id) => ({ id, logprob: row[id]! - logZ })),
  };
}
