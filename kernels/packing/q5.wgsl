// packing/q5: how quantize_asym stores a q5 group: 64 weights on 32 levels; the low 4 bits of each
// quant as q4's nibbles, the high bits in a bit plane beside the group's (scale, min), arranged so
// that a shift puts a nibble word's 8 high bits at its nibbles' places: the high bit of quant
// 32h + 8u + j (nibble j of word u) is bit 4j + u of word 1 + h.
// Bindings (group 0):
//   2 q:      storage, read_write  array<u32>  [rows, stride / 8]: low 4 bits of 8 quants per word
//   4 scales: storage, read_write  array<u32>  [rows, stride / 64, 3]: (scale, min) as two f16, then the
//             high bits of quants 0–31 and 32–63
// Precision: exact packing.

@group(0) @binding(2) var<storage, read_write> q: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;

const GROUP: u32 = 64u;
const TOP: f32 = 31.0;

fn store_group(g: u32, levels: ptr<function, array<u32, GROUP>>, stored: u32) {
  var high = vec2<u32>(0u);
  for (var word = 0u; word < 8u; word++) {
    var packed = 0u;
    for (var k = 0u; k < 8u; k++) {
      let l = (*levels)[8u * word + k];
      packed |= (l & 15u) << (4u * k);
      high[word / 4u] |= (l >> 4u) << (4u * k + word % 4u);
    }
    q[g * 8u + word] = packed;
  }
  scales[3u * g] = stored;
  scales[3u * g + 1u] = high.x;
  scales[3u * g + 2u] = high.y;
}
