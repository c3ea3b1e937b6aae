// formats/bf16: a [rows, stride] matrix stored as bf16, two elements per u32.
// Contract: see formats/f32.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<u32>  [rows, stride / 2], element i in half i & 1
// Precision: widened exactly (a bf16 is the top half of an f32).

@group(0) @binding(3) var<storage, read> w: array<u32>;

fn weight(i: u32) -> f32 {
  let word = w[i >> 1u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}
