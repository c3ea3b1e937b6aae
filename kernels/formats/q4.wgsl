// formats/q4: a [rows, stride] matrix quantized to 4 bits in groups of 32 along the row, each with
// an f16 scale and minimum: w = min + scale · q, q in [0, 15]; stride % 32 == 0.
// Contract: see formats/f32.wgsl; DOT_GROUP = 32, x pre-scaled by formats/nibbles.wgsl, joined
// before.
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 32], a group of 32 per vec4 (element k in
//             nibble k % 8 of word k / 8); also viewed as array<u32> (w_words) by the matmul
//   5 scales: storage, read        array<u32>  [rows, stride / 32], (scale, min) per group as two f16
// Precision: exact dequantization in f32; in the dot, scale and min applied once per group
// (Σ scale·q·x = scale · Σ q·x).

@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;
// The same buffer as words, for the matmul's 8-element chunks: each entry point uses one view only.
@group(0) @binding(3) var<storage, read> w_words: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

const DOT_GROUP: u32 = 32u;

fn weight(i: u32) -> f32 {
  let q = (w[i >> 5u][(i >> 3u) & 3u] >> (4u * (i & 7u))) & 15u;
  let sm = unpack2x16float(scales[i >> 5u]);
  return sm.y + sm.x * f32(q);
}

/** Row j's dot with its group g. */
fn group_dot(row: u32, g: u32, stride: u32, xg: ptr<function, XGroup>) -> f32 {
  let q = w[row * (stride / 32u) + g];
  let sm = unpack2x16float(scales[row * (stride / 32u) + g]);
  let d = dot(nibbles(q.x), (*xg).v[0]) + dot(nibbles(q.x >> 16u), (*xg).v[1])
        + dot(nibbles(q.y), (*xg).v[2]) + dot(nibbles(q.y >> 16u), (*xg).v[3])
        + dot(nibbles(q.z), (*xg).v[4]) + dot(nibbles(q.z >> 16u), (*xg).v[5])
        + dot(nibbles(q.w), (*xg).v[6]) + dot(nibbles(q.w >> 16u), (*xg).v[7]);
  return sm.x * d + sm.y * (*xg).sum;
}

/** The 8 dequantized weights of chunk c, in order. */
fn chunk_weights(c: u32) -> Chunk {
  let q = w_words[c];
  let sm = unpack2x16float(scales[c >> 2u]);
  return Chunk(sm.y + sm.x * u4x4(q, 0u), sm.y + sm.x * u4x4(q, 4u));
}

