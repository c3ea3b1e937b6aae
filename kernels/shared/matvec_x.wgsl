// shared/matvec_x: what both decode matvecs (matvec, matvec_rows) share: loading a group of x
// (through the input part, kernels/inputs/), the dots of 8 rows with it, and storing rows' results.
// Bindings (group 0): those of the matvec bodies (params, x, y).
// Precision: f32 multiply-accumulate.

/** Sums of 8 consecutive rows: rows 0–3 and 4–7 (named vectors, so they stay in registers). */
struct Rows8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

/**
 * DOT_GROUP elements of x from element DOT_GROUP · g, those at or past cols zeroed when masked,
 * times the input's weights; their squares are added to `squares` 8 at a time (the matmuls'
 * order, so a row's sum is the same bits in every kernel).
 */
fn load_x(g: u32, masked: bool, squares: ptr<function, f32>) -> array<vec4<f32>, DOT_GROUP / 4u> {
  var out: array<vec4<f32>, DOT_GROUP / 4u>;
  for (var i = 0u; i < DOT_GROUP / 4u; i++) {
    let v = x[(DOT_GROUP / 4u) * g + i];
    let first = DOT_GROUP * g + 4u * i;
    let keep = vec4<u32>(first, first + 1u, first + 2u, first + 3u) < vec4<u32>(params.cols);
    out[i] = select(v, select(vec4<f32>(0.0), v, keep), masked);
  }
  for (var i = 0u; i < DOT_GROUP / 4u; i += 2u) {
    *squares += dot(out[i], out[i]) + dot(out[i + 1u], out[i + 1u]);
    out[i] *= x_weight((DOT_GROUP / 4u) * g + i);
    out[i + 1u] *= x_weight((DOT_GROUP / 4u) * g + i + 1u);
  }
  return out;
}

/** acc plus rows r0..r0+7's dots with group g; rows past `last` repeat it (their sums unused). */
fn add_rows8(acc: Rows8, xg: ptr<function, XGroup>, r0: u32, last: u32, g: u32) -> Rows8 {
  let s = params.stride;
  return Rows8(
    acc.lo + vec4<f32>(group_dot(min(r0, last), g, s, xg), group_dot(min(r0 + 1u, last), g, s, xg),
                       group_dot(min(r0 + 2u, last), g, s, xg), group_dot(min(r0 + 3u, last), g, s, xg)),
    acc.hi + vec4<f32>(group_dot(min(r0 + 4u, last), g, s, xg), group_dot(min(r0 + 5u, last), g, s, xg),
                       group_dot(min(r0 + 6u, last), g, s, xg), group_dot(min(r0 + 7u, last), g, s, xg)));
}

/** Stores the first n (≤ 8) sums times `scale` (the input's x_scale) as rows r0.. (the output's). */
fn store_rows8(v: Rows8, r0: u32, n: u32, scale: f32) {
  store_unit(0u, r0, v.lo * scale, v.hi * scale, n);
}
