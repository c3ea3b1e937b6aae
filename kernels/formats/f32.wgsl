// formats/f32: a [rows, stride] matrix stored as f32; stride % 8 == 0 (rows 16-byte aligned).
// Contract (every format): binding 3 `w` holds the matrix (quantized formats add binding 5
// `scales`); `weight(i)` is element i (row-major, i = row · stride + column) as f32;
// `chunk_weights(c)` elements 8c..8c+7 in order (the matmul's step); and for the decode matvecs,
// groups of DOT_GROUP elements (8 for floats, 32 quantized): `prepare_x(v)` turns DOT_GROUP
// elements of x into the XGroup that `group_dot(row, g, stride, xg)` dots with group g of a row
// (formats/plain_x gives x as it is). Joined after formats/plain_x.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<f32>>  [rows, stride / 4], two vec4 per chunk
// Precision: exact.

@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;

const DOT_GROUP: u32 = 8u;

fn weight(i: u32) -> f32 {
  return w[i >> 2u][i & 3u];
}

fn chunk_weights(c: u32) -> Chunk {
  return Chunk(w[2u * c], w[2u * c + 1u]);
}

fn group_dot(row: u32, g: u32, stride: u32, xg: ptr<function, XGroup>) -> f32 {
  let c = row * (stride / 8u) + g;
  return dot(w[2u * c], (*xg).v[0]) + dot(w[2u * c + 1u], (*xg).v[1]);
}
