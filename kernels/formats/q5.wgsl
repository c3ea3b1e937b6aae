// formats/q5: a [rows, stride] matrix quantized to 5 bits in groups of 64 along the row, each with
// an f16 scale and minimum: w = min + scale · q, q in [0, 31]; stride % 64 == 0. A quant's low 4
// bits are q4's nibbles, its high bit lies in a bit plane beside its group's (scale, min).
// Contract: see formats/f32.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<u32>  [rows, stride / 8], low 4 bits, element i in nibble i % 8 of word i / 8
//   5 scales: storage, read        array<u32>  [rows, stride / 64, 3], per group: (scale, min) as two f16, then
//             the high bits (bit 4j + u of word 1 + h: quant 32h + 8u + j of the group)
// Precision: exact dequantization in f32.

@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

fn weight(i: u32) -> f32 {
  let info = 3u * (i >> 6u);
  let high = (scales[info + 1u + ((i >> 5u) & 1u)] >> (4u * (i & 7u) + ((i >> 3u) & 3u))) & 1u;
  let q = ((w[i >> 3u] >> (4u * (i & 7u))) & 15u) | (high << 4u);
  let sm = unpack2x16float(scales[info]);
  return sm.y + sm.x * f32(q);
}
