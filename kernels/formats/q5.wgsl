// formats/q5: a [rows, stride] matrix quantized to 5 bits in groups of 64 along the row, each with
// an f16 scale and minimum: w = min + scale · q, q in [0, 31]; stride % 64 == 0. A quant's low 4
// bits are q4's nibbles, its high bit lies in a bit plane beside its group's (scale, min), laid out
// so that one shift puts a nibble word's 8 high bits at its nibbles' places.
// Contract: see formats/f32.wgsl; DOT_GROUP = 32 (halves of a q5 group), x pre-scaled by
// formats/nibbles.wgsl, joined before.
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 32], low 4 bits, 32 per vec4 (element k
//             in nibble k % 8 of word k / 8); also viewed as array<u32> (w_words) by the matmul
//   5 scales: storage, read        array<u32>  [rows, stride / 64, 3], per group: (scale, min) as two f16, then
//             the high bits (bit 4j + u of word 1 + h: quant 32h + 8u + j of the group)
// Precision: exact dequantization in f32; in the dot, scale and min applied once per 32 weights.

@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;
// The same buffer as words, for the matmul's 8-element chunks: each entry point uses one view only.
@group(0) @binding(3) var<storage, read> w_words: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

const DOT_GROUP: u32 = 32u;

fn weight(i: u32) -> f32 {
  let info = 3u * (i >> 6u);
  let high = (scales[info + 1u + ((i >> 5u) & 1u)] >> (4u * (i & 7u) + ((i >> 3u) & 3u))) & 1u;
  let q = ((w[i >> 5u][(i >> 3u) & 3u] >> (4u * (i & 7u))) & 15u) | (high << 4u);
  let sm = unpack2x16float(scales[info]);
  return sm.y + sm.x * f32(q);
}

// Nibbles with their high bits, masked in place: lane j holds (q + 16·high)·16^j, exact in f32.
const HIGH = vec4<u32>(0x10u, 0x100u, 0x1000u, 0x10000u);

/** Quants j = 0–3 of nibble word v, with their high bits at bits 4j of h. */
fn quants(v: u32, h: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>((vec4<u32>(v) & LOW) | (vec4<u32>(h << 4u) & HIGH)));
}

/** Row j's dot with its 32-weight half-group g (its group of 64 is g / 2). */
fn group_dot(row: u32, g: u32, stride: u32, xg: ptr<function, XGroup>) -> f32 {
  let q = w[row * (stride / 32u) + g];
  let info = 3u * (row * (stride / 64u) + g / 2u);
  let sm = unpack2x16float(scales[info]);
  let h = scales[info + 1u + g % 2u]; // nibble word u's high bits at bits 4j + u
  let d = dot(quants(q.x, h), (*xg).v[0]) + dot(quants(q.x >> 16u, h >> 16u), (*xg).v[1])
        + dot(quants(q.y, h >> 1u), (*xg).v[2]) + dot(quants(q.y >> 16u, h >> 17u), (*xg).v[3])
        + dot(quants(q.z, h >> 2u), (*xg).v[4]) + dot(quants(q.z >> 16u, h >> 18u), (*xg).v[5])
        + dot(quants(q.w, h >> 3u), (*xg).v[6]) + dot(quants(q.w >> 16u, h >> 19u), (*xg).v[7]);
  return sm.x * d + sm.y * (*xg).sum;
}

/** Bits 4j, 4j + 4, 4j + 8, 4j + 12 of v as f32 (the high bits beside nibbles j..j+3). */
fn u1x4(v: u32, j: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(v) >> vec4<u32>(4u * j, 4u * j + 4u, 4u * j + 8u, 4u * j + 12u)) & vec4<u32>(1u));
}

/** The 8 dequantized weights of chunk c (8 per chunk, 8 chunks per 64-element group), in order. */
fn chunk_weights(c: u32) -> Chunk {
  let q = w_words[c];
  let info = 3u * (c >> 3u);
  let sm = unpack2x16float(scales[info]);
  let high = scales[info + 1u + ((c >> 2u) & 1u)] >> (c & 3u); // this chunk's bits at 4j
  return Chunk(
    sm.y + sm.x * (u4x4(q, 0u) + 16.0 * u1x4(high, 0u)),
    sm.y + sm.x * (u4x4(q, 4u) + 16.0 * u1x4(high, 4u)),
  );
}

