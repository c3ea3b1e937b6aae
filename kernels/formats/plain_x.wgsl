// formats/plain_x: the x group of formats whose group_dot takes x as it is (f32, f16, bf16, q8),
// joined after one of them.
// Bindings (group 0): none.
// Precision: exact.

/** One group of x as the dot wants it: here, as it is. */
struct XGroup {
  v: array<vec4<f32>, DOT_GROUP / 4u>,
}

fn prepare_x(v: array<vec4<f32>, DOT_GROUP / 4u>) -> XGroup {
  return XGroup(v);
}
