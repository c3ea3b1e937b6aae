// formats/q4: a [rows, stride] matrix quantized to 4 bits in groups of 32 along the row, each with
// an f16 scale and minimum: w = min + scale · q, q in [0, 15]; stride % 32 == 0.
// Contract: see formats/f32.wgsl; quantized formats give the decode matvecs whole groups of 32
// instead of chunks: `prepare_x(v)` turns 32 elements of x into what `group_dot(row, g, stride, xg)`
// dots with group g of a row; `ROWS_OWNED` rows per invocation in matvec_rows_grouped;
// `chunk_weights(c)` as the float formats.
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

/** Rows per invocation of matvec_rows_grouped: 16 pays for q4 (its pre-scaled x serves twice the rows). */
const ROWS_OWNED: u32 = 16u;

fn weight(i: u32) -> f32 {
  let q = (w[i >> 5u][(i >> 3u) & 3u] >> (4u * (i & 7u))) & 15u;
  let sm = unpack2x16float(scales[i >> 5u]);
  return sm.y + sm.x * f32(q);
}

// Nibbles 0–3 of a word (and 4–7, after a shift by 16) masked in place, and the x scaling that
// undoes their place value.
const LOW = vec4<u32>(0xfu, 0xf0u, 0xf00u, 0xf000u);
const LOW_PLACE = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);

/** The 4 low nibbles of v masked in place (q·16^k ≤ 0xf000: a signed conversion, native on CPUs). */
fn nibbles(v: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) & LOW));
}

/** One group of x as the dot wants it: pre-scaled by the place values, and its plain sum. */
struct XGroup {
  v: array<vec4<f32>, 8>,
  sum: f32,
}

fn prepare_x(v: array<vec4<f32>, 8>) -> XGroup {
  var out: XGroup;
  var total = vec4<f32>(0.0);
  for (var i = 0u; i < 8u; i++) {
    total += v[i];
    out.v[i] = v[i] * LOW_PLACE;
  }
  out.sum = dot(total, vec4<f32>(1.0));
  return out;
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

/** Eight consecutive weights. */
struct Chunk {
  a: vec4<f32>,
  b: vec4<f32>,
}

/** Nibbles j..j+3 of word v as f32. */
fn u4x4(v: u32, j: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(v) >> vec4<u32>(4u * j, 4u * j + 4u, 4u * j + 8u, 4u * j + 12u)) & vec4<u32>(15u));
}

/** The 8 dequantized weights of chunk c, in order. */
fn chunk_weights(c: u32) -> Chunk {
  let q = w_words[c];
  let sm = unpack2x16float(scales[c >> 2u]);
  return Chunk(sm.y + sm.x * u4x4(q, 0u), sm.y + sm.x * u4x4(q, 4u));
}

