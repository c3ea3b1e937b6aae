// outputs/plain: a linear op's results stored as rows of y: y[t, first_row + r] = v, or y += v
// when accumulating.
// Contract (every output): `store_unit(t, r0, lo, hi, n)` stores token t's results of the 8-row
// unit from row r0 of this call (r0 % 8 == 0): rows r0..r0+3 in lo, r0+4..r0+7 in hi, the first
// n valid (rows past the matrix are never stored).
// Bindings (group 0): none (y is the op's binding 4).
// Precision: exact.

fn store_unit(t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>, n: u32) {
  for (var j = 0u; j < min(n, 8u); j++) {
    let o = t * params.y_stride + params.first_row + r0 + j;
    let v = select(hi[j % 4u], lo[j % 4u], j < 4u);
    y[o] = select(v, y[o] + v, params.accumulate == 1u);
  }
}
