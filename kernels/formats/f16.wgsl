// formats/f16: a [rows, stride] matrix stored as f16; stride % 8 == 0 (rows 16-byte aligned).
// Contract: see formats/f32.wgsl. Joined after formats/plain_x.wgsl.
// Bindings (group 0):
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 8], one vec4<u32> per 8-element chunk
//             (element 2j in the low half of word j)
// Precision: widened exactly with unpack2x16float.

@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;

const DOT_GROUP: u32 = 8u;

fn weight(i: u32) -> f32 {
  let pair = unpack2x16float(w[i >> 3u][(i >> 1u) & 3u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}

fn chunk_weights(c: u32) -> Chunk {
  let q = w[c];
  return Chunk(
    vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)),
    vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)),
  );
}

fn group_dot(row: u32, g: u32, stride: u32, xg: ptr<function, XGroup>) -> f32 {
  let k = chunk_weights(row * (stride / 8u) + g);
  return dot(k.a, (*xg).v[0]) + dot(k.b, (*xg).v[1]);
}
