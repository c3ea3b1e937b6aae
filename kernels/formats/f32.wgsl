// formats/f32: a [rows, stride] matrix stored as f32; stride % 8 == 0 (rows 16-byte aligned).
// Contract (every format): binding 3 `w` holds the matrix (quantized formats add binding 5
// `scales`); `weight(i)` is element i (row-major, i = row · stride + column) as f32. Float
// formats also give the linear ops 8-element chunks (chunk c = elements 8c..8c+7):
// `chunk_weights(c)` in order, and `chunk_dot(c, xa, xb)` = their dot with x[8c..8c+7].
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<f32>>  [rows, stride / 4], two vec4 per chunk
// Precision: exact.

@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;

/** Eight consecutive weights. */
struct Chunk {
  a: vec4<f32>,
  b: vec4<f32>,
}

fn weight(i: u32) -> f32 {
  return w[i >> 2u][i & 3u];
}

fn chunk_weights(c: u32) -> Chunk {
  return Chunk(w[2u * c], w[2u * c + 1u]);
}

fn chunk_dot(c: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  return dot(w[2u * c], xa) + dot(w[2u * c + 1u], xb);
}
