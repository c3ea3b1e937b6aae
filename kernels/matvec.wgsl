// matvec: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode), the bandwidth-bound
// step, on GPUs. Each workgroup computes ROWS = 8 rows; its WG threads walk the rows' groups of
// DOT_GROUP weights (consecutive threads on consecutive groups), reusing each x group (prepared
// once by the format: q4/q5 pre-scale it so nibbles dequantize in place) for the 8 rows, then
// reduce in workgroup memory.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32,
//             eps: f32 (an rmsnorm input's) }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of
//             DOT_GROUP — robust access — and masked)
//   3 w (and 5 scales): the matrix [rows, stride], from a format (kernels/formats/), read a group
//             of DOT_GROUP at a time by its prepare_x and group_dot; stride % DOT_GROUP == 0
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: ceil(rows / 8) workgroups, folded into (x, y) with x ≤ 65535; WG threads each (power of two ≤ 256).
// Input (kernels/inputs/): x as stored, or RMS-normalised on the way in (the squares are summed by
// each thread over its groups, then in the tree beside the rows' sums).
// Precision: f32 multiply-accumulate; a quantized format applies its scales once per group.

struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32, eps: f32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const ROWS: u32 = 8u;
var<workgroup> sums: array<Rows8, 256>; // per thread
var<workgroup> squares: array<f32, 256>; // per thread, when the input is normalised

/** acc plus the 8 rows' dots with group g (rows past the last repeat it; never written). */
fn add_rows_dot(acc: Rows8, r0: u32, n: u32, g: u32, masked: bool, sq: ptr<function, f32>) -> Rows8 {
  var xg = prepare_x(load_x(g, masked, sq));
  return add_rows8(acc, &xg, r0, r0 + n - 1u, g);
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let r0 = workgroup_of(at) * ROWS;
  if (r0 >= params.rows) {
    return;
  }
  let n = min(ROWS, params.rows - r0);
  let full = params.cols / DOT_GROUP; // groups whose x needs no mask
  var acc = Rows8();
  var sq = 0.0;
  for (var g = lid; g < full; g += WG) {
    acc = add_rows_dot(acc, r0, n, g, false, &sq);
  }
  if (params.cols % DOT_GROUP != 0u && lid == full % WG) {
    acc = add_rows_dot(acc, r0, n, full, true, &sq);
  }
  sums[lid] = acc;
  if (X_NORMED) {
    squares[lid] = sq;
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      sums[lid] = Rows8(sums[lid].lo + sums[lid + s].lo, sums[lid].hi + sums[lid + s].hi);
      if (X_NORMED) {
        squares[lid] += squares[lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    store_rows8(sums[0], r0, n, x_scale(squares[0]));
  }
}
