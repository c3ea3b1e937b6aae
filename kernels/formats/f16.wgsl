// formats/f16: a [rows, stride] matrix stored as f16, two elements per u32.
// Contract: see formats/f32.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<u32>  [rows, stride / 2], element i in half i & 1
// Precision: widened exactly with unpack2x16float.

@group(0) @binding(3) var<storage, read> w: array<u32>;

fn weight(i: u32) -> f32 {
  let pair = unpack2x16float(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}
