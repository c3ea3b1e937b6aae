// matmul_lanes: Y[t, first_row + r] (+)= Σ_k X[t, k] · W[r, k] for a prompt, shaped for software
// adapters (lavapipe), where every storage load is a loop over the SIMD lanes and only register
// reuse pays (bench/README.md, "Why the GEMM stays…"). A lane owns 8 tokens (t0 + j · WG); a
// workgroup owns ROWS rows, read by all its lanes alike. Per block of 32 columns each lane loads
// its tokens' x once into registers, then walks the rows: each weight chunk serves 8 tokens, each
// x value ROWS rows. Measured 1.2–1.5× `matmul` on lavapipe; a poor shape for GPUs (x held per
// lane), which keep `matmul`.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (per forward)
//   1, 2, 4 params, x, y: kernels/shared/matmul_x.wgsl
//   3 w (and 5 scales): the matrix [rows, stride], from any format (kernels/formats/), whose
//             chunk_weights reads it 8 elements at a time; stride % 8 == 0, zero padded
// Dispatch: ceil(tokens / (8 · WG)) · ceil(rows / ROWS) workgroups, folded into (x, y) with
// x ≤ 65535; WG threads each.
// Input (kernels/inputs/): x as stored, or RMS-normalised on the way in (each lane sums its
// tokens' squares from the x it loads anyway).
// Precision: f32 multiply-accumulate, 32 columns at a time.

/** Tokens per lane, and chunks (of 8 columns) per block. */
const TOKENS: u32 = 8u;
const CHUNKS: u32 = 4u;
/** Rows per workgroup. */
const ROWS: u32 = 128u;

/** The dot of one token's x block with a row's block of weight chunks. */
fn block_dot(w: array<Chunk, CHUNKS>, x: array<vec4<f32>, 2u * CHUNKS>) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < CHUNKS; i++) {
    s += dot(w[i].a, x[2u * i]) + dot(w[i].b, x[2u * i + 1u]);
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let group = workgroup_of(at);
  let span = WG * TOKENS;
  let token_groups = (frame.tokens + span - 1u) / span;
  let t0 = (group % token_groups) * span + at.lid;
  let r0 = (group / token_groups) * ROWS;
  if (r0 >= params.rows) {
    return;
  }
  let chunks = params.stride / 8u;
  let last = params.rows - 1u;
  var acc: array<array<vec4<f32>, 2>, ROWS>; // [row][token / 4][token % 4]
  var sq: array<f32, TOKENS>; // each token's sum of squares, for a normalised input
  for (var c = 0u; c < chunks; c += CHUNKS) {
    var xs: array<array<vec4<f32>, 2u * CHUNKS>, TOKENS>;
    for (var j = 0u; j < TOKENS; j++) {
      for (var i = 0u; i < CHUNKS; i++) {
        let raw = x_chunk(t0 + j * WG, c + i); // zero past the row's end
        sq[j] += chunk_squares(raw);
        let xc = weighted(raw, c + i);
        xs[j][2u * i] = xc.a;
        xs[j][2u * i + 1u] = xc.b;
      }
    }
    for (var r = 0u; r < ROWS; r++) {
      let base = min(r0 + r, last) * chunks + c;
      var w: array<Chunk, CHUNKS>; // zero-initialised
      for (var i = 0u; i < CHUNKS; i++) {
        // Chunks past the row's end are zero (their x is zero too, but a weight may not be finite).
        if (c + i < chunks) {
          w[i] = chunk_weights(base + i);
        }
      }
      acc[r][0] += vec4<f32>(block_dot(w, xs[0]), block_dot(w, xs[1]), block_dot(w, xs[2]), block_dot(w, xs[3]));
      acc[r][1] += vec4<f32>(block_dot(w, xs[4]), block_dot(w, xs[5]), block_dot(w, xs[6]), block_dot(w, xs[7]));
    }
  }
  var scale: array<f32, TOKENS>;
  for (var j = 0u; j < TOKENS; j++) {
    scale[j] = x_scale(sq[j]);
  }
  for (var r = 0u; r < ROWS && r0 + r < params.rows; r += 8u) {
    let n = min(8u, params.rows - r0 - r);
    for (var j = 0u; j < TOKENS; j++) {
      let t = t0 + j * WG;
      if (t < frame.tokens) {
        let h = j / 4u;
        let k = j % 4u;
        let lo = vec4<f32>(acc[r][h][k], acc[r + 1u][h][k], acc[r + 2u][h][k], acc[r + 3u][h][k]);
        let hi = vec4<f32>(acc[r + 4u][h][k], acc[r + 5u][h][k], acc[r + 6u][h][k], acc[r + 7u][h][k]);
        store_unit(t, r0 + r, lo * scale[j], hi * scale[j], n);
      }
    }
  }
}
