// formats/q8: a [rows, stride] matrix quantized to int8 in groups of 32 along the row, each with
// an f16 scale: w = scale · q, q in [−127, 127]; stride % 64 == 0.
// Contract: see formats/f32.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<u32>  [rows, stride / 4], element i in byte i % 4 of word i / 4
//   5 scales: storage, read        array<u32>  [rows, stride / 64], the f16 scales of groups 2j, 2j + 1
// Precision: exact dequantization (an int8 times an f16 in f32).

@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

fn weight(i: u32) -> f32 {
  let q = (bitcast<i32>(w[i >> 2u] << (24u - 8u * (i & 3u))) >> 24u);
  let pair = unpack2x16float(scales[i >> 6u]);
  return f32(q) * select(pair.x, pair.y, ((i >> 5u) & 1u) == 1u);
}
