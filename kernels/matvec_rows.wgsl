// matvec_rows: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode) on software
// adapters (llvmpipe): each invocation owns ROWS_OWNED consecutive rows (override, set by Ops per
// format: 8, or 16 for q4/q5, whose pre-scaled x serves more rows) and walks them whole in groups
// of DOT_GROUP weights, reusing each x group for its rows. No workgroup memory and no barrier: on
// llvmpipe a barrier makes the shader a coroutine and costs more than the math (this kernel reads
// 1.4–2.8× faster there than matvec). GPUs use matvec: this one would run too few threads there,
// and uncoalesced.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32,
//             eps: f32 (an rmsnorm input's) }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of
//             DOT_GROUP — robust access — and masked)
//   3 w (and 5 scales): the matrix [rows, stride], from a format (kernels/formats/), read a group
//             of DOT_GROUP at a time by its prepare_x and group_dot; stride % DOT_GROUP == 0
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: ceil(rows / (ROWS_OWNED · WG)) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Input (kernels/inputs/): x as stored, or RMS-normalised on the way in (each invocation sums the
// squares of the x it loads anyway).
// Precision: f32 multiply-accumulate; a quantized format applies its scales once per group.

struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32, eps: f32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

/** Rows per invocation: 8 or 16. */
override ROWS_OWNED: u32 = 8u;

/**
 * Adds the owned rows' dots with group g to a (rows 0–7) and b (rows 8–15), 4 rows per vec4,
 * written out so every call and accumulator stays in registers; rows past the last repeat it
 * (never written). ROWS_OWNED is a pipeline constant: b's half folds away for 8.
 */
fn add_rows_dot(a: ptr<function, Rows8>, b: ptr<function, Rows8>, r0: u32, n: u32, g: u32, masked: bool,
                sq: ptr<function, f32>) {
  var xg = prepare_x(load_x(g, masked, sq));
  *a = add_rows8(*a, &xg, r0, r0 + n - 1u, g);
  if (ROWS_OWNED > 8u) {
    *b = add_rows8(*b, &xg, r0 + 8u, r0 + n - 1u, g);
  }
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let r0 = (workgroup_of(at) * WG + lid) * ROWS_OWNED;
  if (r0 >= params.rows) {
    return;
  }
  let n = min(ROWS_OWNED, params.rows - r0);
  let full = params.cols / DOT_GROUP; // groups whose x needs no mask
  var a = Rows8();
  var b = Rows8();
  var sq = 0.0; // x's sum of squares, for a normalised input
  for (var g = 0u; g < full; g++) {
    add_rows_dot(&a, &b, r0, n, g, false, &sq);
  }
  if (params.cols % DOT_GROUP != 0u) {
    add_rows_dot(&a, &b, r0, n, full, true, &sq);
  }
  let scale = x_scale(sq);
  store_rows8(a, r0, n, scale);
  if (ROWS_OWNED > 8u) {
    store_rows8(b, r0 + 8u, n - min(n, 8u), scale);
  }
}
