// matmul: Y[t, first_row + r] (+)= Σ_k X[t, k] · W[r, k] for a prompt (prefill). Each invocation
// computes an 8-token × 8-row block in registers, walking k in 8-element chunks (16-byte weight
// loads): each x chunk serves 8 rows, each weight chunk 8 tokens (4×8 and 8×8 blocks measured
// 25–35% faster than 4×4 on lavapipe); neighbouring invocations take neighbouring token blocks of
// the same rows, so a weight chunk serves a whole workgroup of tokens from cache. No workgroup
// memory, no barriers.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (per forward)
//   1, 2, 4 params, x, y: kernels/shared/matmul_x.wgsl
//   3 w (and 5 scales): the matrix [rows, stride], from any format (kernels/formats/), whose
//             chunk_weights reads it 8 elements at a time; stride % 8 == 0, zero padded
// Dispatch: ceil(ceil(tokens / 8) * ceil(rows / 8) / WG) workgroups, folded into (x, y) with
// x ≤ 65535; WG threads each.
// Input (kernels/inputs/): x as stored, or RMS-normalised on the way in (each invocation sums its
// tokens' squares from the x it loads anyway).
// Precision: f32 multiply-accumulate.

/** Tokens per invocation. */
const TOKENS: u32 = 8u;

/** acc plus the dots of TOKENS tokens' x chunk with 4 rows' weight chunks; acc[token][row]. */
fn block_dot(
  acc: ptr<function, array<vec4<f32>, TOKENS>>,
  k0: Chunk,
  k1: Chunk,
  k2: Chunk,
  k3: Chunk,
  x: ptr<function, array<Chunk, TOKENS>>,
) {
  for (var j = 0u; j < TOKENS; j++) {
    let xa = (*x)[j].a;
    let xb = (*x)[j].b;
    (*acc)[j] += vec4<f32>(dot(k0.a, xa) + dot(k0.b, xb), dot(k1.a, xa) + dot(k1.b, xb),
                           dot(k2.a, xa) + dot(k2.b, xb), dot(k3.a, xa) + dot(k3.b, xb));
  }
}

/** Stores the 8 rows' sums of tokens t0.., each times its x_scale, through the output. */
fn store_block(lo: array<vec4<f32>, TOKENS>, hi: array<vec4<f32>, TOKENS>, t0: u32, r0: u32, sq: array<f32, TOKENS>) {
  let n = min(8u, params.rows - r0);
  for (var j = 0u; j < TOKENS; j++) {
    let t = t0 + j;
    if (t < frame.tokens) {
      let scale = x_scale(sq[j]);
      store_unit(t, r0, lo[j] * scale, hi[j] * scale, n);
    }
  }
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let i = workgroup_of(at) * WG + at.lid;
  let token_blocks = (frame.tokens + TOKENS - 1u) / TOKENS;
  let t0 = (i % token_blocks) * TOKENS;
  let r0 = (i / token_blocks) * 8u;
  if (r0 >= params.rows) {
    return;
  }
  let chunks = params.stride / 8u;
  let last_row = params.rows - 1u;
  // Rows past the end repeat the last row (their results are not written).
  var w: array<u32, 8>;
  for (var r = 0u; r < 8u; r++) {
    w[r] = min(r0 + r, last_row) * chunks;
  }
  var lo: array<vec4<f32>, TOKENS>; // [token][row 0–3]
  var hi: array<vec4<f32>, TOKENS>; // [token][row 4–7]
  var sq: array<f32, TOKENS>; // each token's sum of squares, for a normalised input
  for (var c = 0u; c < chunks; c++) {
    // Each token's x chunk is loaded once and serves the 8 rows; each row's chunk, the 8 tokens.
    var x: array<Chunk, TOKENS>;
    for (var j = 0u; j < TOKENS; j++) {
      let raw = x_chunk(t0 + j, c);
      sq[j] += chunk_squares(raw);
      x[j] = weighted(raw, c);
    }
    let c0 = chunk_weights(w[0] + c);
    let c1 = chunk_weights(w[1] + c);
    let c2 = chunk_weights(w[2] + c);
    let c3 = chunk_weights(w[3] + c);
    block_dot(&lo, c0, c1, c2, c3, &x);
    let c4 = chunk_weights(w[4] + c);
    let c5 = chunk_weights(w[5] + c);
    let c6 = chunk_weights(w[6] + c);
    let c7 = chunk_weights(w[7] + c);
    block_dot(&hi, c4, c5, c6, c7, &x);
  }
  store_block(lo, hi, t0, r0, sq);
}
