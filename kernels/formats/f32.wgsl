// formats/f32: a [rows, stride] matrix stored as f32, one element per f32.
// Contract (every format): binding 3 `w` holds the matrix (quantized formats add binding 5
// `scales`); `weight(i)` is element i (row-major, i = row · stride + column) as f32.
// Bindings (group 0):
//   3 w:      storage, read        array<f32>  [rows, stride]
// Precision: exact.

@group(0) @binding(3) var<storage, read> w: array<f32>;

fn weight(i: u32) -> f32 {
  return w[i];
}
