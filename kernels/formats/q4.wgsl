// formats/q4: a [rows, stride] matrix quantized to 4 bits in groups of 32 along the row, each with
// an f16 scale and minimum: w = min + scale · q, q in [0, 15]; stride % 32 == 0.
// Contract: see formats/f32.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<u32>  [rows, stride / 8], element i in nibble i % 8 of word i / 8
//   5 scales: storage, read        array<u32>  [rows, stride / 32], (scale, min) per group as two f16
// Precision: exact dequantization in f32.

@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

fn weight(i: u32) -> f32 {
  let q = (w[i >> 3u] >> (4u * (i & 7u))) & 15u;
  let sm = unpack2x16float(scales[i >> 5u]);
  return sm.y + sm.x * f32(q);
}
