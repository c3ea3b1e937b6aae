// formats/q8: a [rows, stride] matrix quantized to int8 in groups of 32 along the row, each with
// an f16 scale: w = scale · q, q in [−127, 127]; stride % 64 == 0.
// Contract: see formats/f32.wgsl; DOT_GROUP = 32. Joined after formats/plain_x.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 16], a group of 32 per two vec4 (element k
//             in byte k % 4 of word k / 4); also viewed as array<vec2<u32>> (w_pairs) by the matmul
//   5 scales: storage, read        array<u32>  [rows, stride / 64], the f16 scales of groups 2j, 2j + 1
// Precision: exact dequantization (an int8 times an f16 in f32); in the dot, the scale applied
// once per group.

@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;
// The same buffer in 8-byte pairs, for the matmul's 8-element chunks: each entry point uses one view.
@group(0) @binding(3) var<storage, read> w_pairs: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

const DOT_GROUP: u32 = 32u;

fn weight(i: u32) -> f32 {
  let q = (bitcast<i32>(w[i >> 4u][(i >> 2u) & 3u] << (24u - 8u * (i & 3u))) >> 24u);
  let pair = unpack2x16float(scales[i >> 6u]);
  return f32(q) * select(pair.x, pair.y, ((i >> 5u) & 1u) == 1u);
}

const TO_TOP = vec4<u32>(24u, 16u, 8u, 0u);
const TOP = vec4<u32>(0xff000000u);
const TOP_PLACE = 5.9604644775390625e-08; // 2⁻²⁴

/** The 4 signed bytes of word v, each times 2²⁴, dotted with xs. */
fn dot_i8x4(v: u32, xs: vec4<f32>) -> f32 {
  return dot(vec4<f32>(bitcast<vec4<i32>>((vec4<u32>(v) << TO_TOP) & TOP)), xs);
}

/** Row j's dot with its group g. */
fn group_dot(row: u32, g: u32, stride: u32, xg: ptr<function, XGroup>) -> f32 {
  let a = w[row * (stride / 16u) + 2u * g];
  let b = w[row * (stride / 16u) + 2u * g + 1u];
  let pair = unpack2x16float(scales[row * (stride / 64u) + g / 2u]);
  let scale = select(pair.x, pair.y, (g & 1u) == 1u) * TOP_PLACE;
  let d = dot_i8x4(a.x, (*xg).v[0]) + dot_i8x4(a.y, (*xg).v[1]) + dot_i8x4(a.z, (*xg).v[2])
        + dot_i8x4(a.w, (*xg).v[3]) + dot_i8x4(b.x, (*xg).v[4]) + dot_i8x4(b.y, (*xg).v[5])
        + dot_i8x4(b.z, (*xg).v[6]) + dot_i8x4(b.w, (*xg).v[7]);
  return scale * d;
}

/** The 4 signed bytes of word v as f32. */
fn i8x4(v: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

/** The 8 dequantized weights of chunk c, in order. */
fn chunk_weights(c: u32) -> Chunk {
  let q = w_pairs[c];
  let pair = unpack2x16float(scales[c >> 3u]);
  let scale = select(pair.x, pair.y, ((c >> 2u) & 1u) == 1u);
  return Chunk(i8x4(q.x) * scale, i8x4(q.y) * scale);
}

