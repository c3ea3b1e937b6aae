// formats/nibbles: the 4-bit arithmetic q4 and q5 share, joined before either: nibbles masked in
// place against x pre-scaled by their place values (so a dot needs no shifts), and 4-bit chunks.
// Bindings (group 0): none.
// Precision: exact (q·16^k, k < 4, and its x scaling by 16^-k are exact in f32).

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
  v: array<vec4<f32>, DOT_GROUP / 4u>,
  sum: f32,
}

fn prepare_x(v: array<vec4<f32>, DOT_GROUP / 4u>) -> XGroup {
  var out: XGroup;
  var total = vec4<f32>(0.0);
  for (var i = 0u; i < DOT_GROUP / 4u; i++) {
    total += v[i];
    out.v[i] = v[i] * LOW_PLACE;
  }
  out.sum = dot(total, vec4<f32>(1.0));
  return out;
}

/** Nibbles j..j+3 of word v as f32. */
fn u4x4(v: u32, j: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(v) >> vec4<u32>(4u * j, 4u * j + 4u, 4u * j + 8u, 4u * j + 12u)) & vec4<u32>(15u));
}
