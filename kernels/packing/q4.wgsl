// packing/q4: how quantize_asym stores a q4 group: 32 weights on 16 levels, 8 nibbles per word, the
// group's (scale, min) as two f16 in one word.
// Bindings (group 0):
//   2 q:      storage, read_write  array<u32>  [rows, stride / 8]: element k in nibble k % 8 of word k / 8
//   4 scales: storage, read_write  array<u32>  [rows, stride / 32]: (scale, min) as two f16
// Precision: exact packing.

@group(0) @binding(2) var<storage, read_write> q: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;

const GROUP: u32 = 32u;
const TOP: f32 = 15.0;

fn store_group(g: u32, levels: ptr<function, array<u32, GROUP>>, stored: u32) {
  for (var word = 0u; word < 4u; word++) {
    var packed = 0u;
    for (var k = 0u; k < 8u; k++) {
      packed |= (*levels)[8u * word + k] << (4u * k);
    }
    q[g * 4u + word] = packed;
  }
  scales[g] = stored;
}
