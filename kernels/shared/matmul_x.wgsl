// shared/matmul_x: what the prefill matmuls share: their parameters, X (f32 [tokens, cols], read
// 4 values at a time, zero past cols or past the last token, through the input part,
// kernels/inputs/) and Y (written through the output part, kernels/outputs/).
// Bindings (group 0):
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32,
//             eps: f32 (an rmsnorm input's) }
//   2 x:      storage, read        array<vec4<f32>>  [tokens, cols] read as vec4 (one load per 4 values when
//             cols % 4 == 0, the X_ALIGNED override; element by element otherwise)
//   4 y:      storage, read_write  array<f32>  [tokens, y_stride]; Y += X·Wᵀ when accumulate == 1
// Precision: exact loads.

struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32, eps: f32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

/** X's rows start 16-byte aligned (cols % 4 == 0), set by Ops: x loads whole vectors. */
override X_ALIGNED: bool = true;

/** Element i of the flat X. */
fn x_elem(i: u32) -> f32 {
  return x[i >> 2u][i & 3u];
}

/** X[t, 4v..4v+3], zero past cols or past the last token: one load if X_ALIGNED, else 4. */
fn x_at(t: u32, v: u32) -> vec4<f32> {
  let k = 4u * v;
  if (X_ALIGNED) {
    return select(vec4<f32>(0.0), x[t * (params.cols / 4u) + v], t < frame.tokens && k < params.cols);
  }
  if (t >= frame.tokens) {
    return vec4<f32>(0.0);
  }
  let base = t * params.cols + k;
  return vec4<f32>(
    select(0.0, x_elem(base), k < params.cols),
    select(0.0, x_elem(base + 1u), k + 1u < params.cols),
    select(0.0, x_elem(base + 2u), k + 2u < params.cols),
    select(0.0, x_elem(base + 3u), k + 3u < params.cols),
  );
}

/** X[t, 8c..8c+7] as stored (zero past cols or past the last token). */
fn x_chunk(t: u32, c: u32) -> Chunk {
  return Chunk(x_at(t, 2u * c), x_at(t, 2u * c + 1u));
}

/**
 * The sum of a chunk's squares, added to a token's sum 8 at a time (as the matvecs add them, so a
 * row's sum is the same bits in every kernel).
 */
fn chunk_squares(x: Chunk) -> f32 {
  return dot(x.a, x.a) + dot(x.b, x.b);
}

/** Chunk c of x times the input's weights. */
fn weighted(x: Chunk, c: u32) -> Chunk {
  return Chunk(x.a * x_weight(2u * c), x.b * x_weight(2u * c + 1u));
}
