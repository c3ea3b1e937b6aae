// matvec_grouped: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode), the
// bandwidth-bound step, for quantized formats. Each workgroup computes ROWS = 8 rows; its WG
// threads walk the rows' 32-weight groups (consecutive threads on consecutive groups), reusing
// each x group (prepared once by the format: q4/q5 pre-scale it so nibbles dequantize in place)
// for the 8 rows, then reduce in workgroup memory.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of 32 — robust access — and masked)
//   3 w (and 5 scales): the matrix [rows, stride], from a quantized format (kernels/formats/: q8,
//             q5, q4), read a group of 32 at a time by its prepare_x and group_dot
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: ceil(rows / 8) workgroups, folded into (x, y) with x ≤ 65535; WG threads each (power of two ≤ 256).
// Precision: f32 multiply-accumulate; the format applies its scales once per group.

struct Frame { tokens: u32 }
struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
const ROWS: u32 = 8u;
var<workgroup> partial: array<array<vec4<f32>, 2>, 256>; // per thread: rows 0–3, rows 4–7

/** 32 elements of x from element 32g, those at or past cols zeroed when masked. */
fn load_x(g: u32, masked: bool) -> array<vec4<f32>, 8> {
  var out: array<vec4<f32>, 8>;
  if (masked) {
    for (var i = 0u; i < 8u; i++) {
      let first = 32u * g + 4u * i;
      let keep = vec4<u32>(first, first + 1u, first + 2u, first + 3u) < vec4<u32>(params.cols);
      out[i] = select(vec4<f32>(0.0), x[8u * g + i], keep);
    }
  } else {
    for (var i = 0u; i < 8u; i++) {
      out[i] = x[8u * g + i];
    }
  }
  return out;
}

/** The 8 rows' dots with group g (rows past the last repeat it; their sums are never written). */
fn rows_dot(r0: u32, n: u32, g: u32, masked: bool) -> array<vec4<f32>, 2> {
  var xg = prepare_x(load_x(g, masked));
  let last = r0 + n - 1u;
  return array<vec4<f32>, 2>(
    vec4<f32>(group_dot(r0, g, params.stride, &xg), group_dot(min(r0 + 1u, last), g, params.stride, &xg),
              group_dot(min(r0 + 2u, last), g, params.stride, &xg), group_dot(min(r0 + 3u, last), g, params.stride, &xg)),
    vec4<f32>(group_dot(min(r0 + 4u, last), g, params.stride, &xg), group_dot(min(r0 + 5u, last), g, params.stride, &xg),
              group_dot(min(r0 + 6u, last), g, params.stride, &xg), group_dot(min(r0 + 7u, last), g, params.stride, &xg)));
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r0 = (wid.x + wid.y * groups.x) * ROWS;
  if (r0 >= params.rows) {
    return;
  }
  let n = min(ROWS, params.rows - r0);
  let full = params.cols / 32u; // groups whose x needs no mask
  var lo = vec4<f32>(0.0);
  var hi = vec4<f32>(0.0);
  for (var g = lid; g < full; g += WG) {
    let d = rows_dot(r0, n, g, false);
    lo += d[0];
    hi += d[1];
  }
  if (params.cols % 32u != 0u && lid == full % WG) {
    let d = rows_dot(r0, n, full, true);
    lo += d[0];
    hi += d[1];
  }
  partial[lid] = array<vec4<f32>, 2>(lo, hi);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      partial[lid][0] += partial[lid + s][0];
      partial[lid][1] += partial[lid + s][1];
    }
    workgroupBarrier();
  }
  for (var j = lid; j < n; j += WG) {
    let o = params.first_row + r0 + j;
    let v = partial[0][j / 4u][j % 4u];
    y[o] = select(v, y[o] + v, params.accumulate == 1u);
  }
}
