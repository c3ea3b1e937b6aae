// formats/bf16: a [rows, stride] matrix stored as bf16; stride % 8 == 0 (rows 16-byte aligned).
// Contract: see formats/f32.wgsl. Joined after formats/plain_x.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 8], one vec4<u32> per 8-element chunk
//             (element 2j in the low half of word j)
// Precision: widened exactly (a bf16 is the top half of an f32).

@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;

const DOT_GROUP: u32 = 8u;

fn weight(i: u32) -> f32 {
  let word = w[i >> 3u][(i >> 1u) & 3u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}

fn chunk_weights(c: u32) -> Chunk {
  let q = w[c];
  let even = bitcast<vec4<f32>>(q << vec4<u32>(16u));
  let odd = bitcast<vec4<f32>>(q & vec4<u32>(0xffff0000u));
  return Chunk(vec4<f32>(even.x, odd.x, even.y, odd.y), vec4<f32>(even.z, odd.z, even.w, odd.w));
}

/**
 * The chunk's dot in the matmul's order (elements in order, two vec4 dots), so a token's decode
 * result is bitwise the same alone (this matvec) and among others (the matmul).
 */
fn group_dot(row: u32, g: u32, stride: u32, xg: ptr<function, XGroup>) -> f32 {
  let k = chunk_weights(row * (stride / 8u) + g);
  return dot(k.a, (*xg).v[0]) + dot(k.b, (*xg).v[1]);
}
