// matvec_rows_grouped: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode) on
// software adapters (llvmpipe), for quantized formats: each invocation owns ROWS_OWNED
// consecutive rows (override, set by Ops per format: 8 for q8, 16 for q4/q5, whose pre-scaled x
// serves more rows) and walks them whole in 32-weight groups, reusing each x group for its rows. No workgroup
// memory and no barrier: on llvmpipe a barrier makes the shader a coroutine and costs more than
// the math. GPUs use matvec_grouped: this one would run too few threads there, and uncoalesced.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of 32 — robust access — and masked)
//   3 w (and 5 scales): the matrix [rows, stride], from a quantized format (kernels/formats/: q8,
//             q5, q4), read a group of 32 at a time by its prepare_x and group_dot
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: ceil(rows / (ROWS_OWNED · WG)) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32 multiply-accumulate; the format applies its scales once per group.

struct Frame { tokens: u32 }
struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
/** Rows per invocation: 8 or 16. */
override ROWS_OWNED: u32 = 16u;

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

/**
 * Adds the owned rows' dots with group g to acc, 4 rows per vec4, written out so every call and
 * accumulator stays in registers; rows past the last repeat it (never written). ROWS_OWNED is 8
 * or 16, a pipeline constant: the second half folds away for 8.
 */
fn add_rows_dot(acc: ptr<function, array<vec4<f32>, 4>>, r0: u32, last: u32, g: u32, masked: bool) {
  var xg = prepare_x(load_x(g, masked));
  let s = params.stride;
  (*acc)[0] += vec4<f32>(group_dot(r0, g, s, &xg), group_dot(min(r0 + 1u, last), g, s, &xg),
                         group_dot(min(r0 + 2u, last), g, s, &xg), group_dot(min(r0 + 3u, last), g, s, &xg));
  (*acc)[1] += vec4<f32>(group_dot(min(r0 + 4u, last), g, s, &xg), group_dot(min(r0 + 5u, last), g, s, &xg),
                         group_dot(min(r0 + 6u, last), g, s, &xg), group_dot(min(r0 + 7u, last), g, s, &xg));
  if (ROWS_OWNED > 8u) {
    (*acc)[2] += vec4<f32>(group_dot(min(r0 + 8u, last), g, s, &xg), group_dot(min(r0 + 9u, last), g, s, &xg),
                           group_dot(min(r0 + 10u, last), g, s, &xg), group_dot(min(r0 + 11u, last), g, s, &xg));
    (*acc)[3] += vec4<f32>(group_dot(min(r0 + 12u, last), g, s, &xg), group_dot(min(r0 + 13u, last), g, s, &xg),
                           group_dot(min(r0 + 14u, last), g, s, &xg), group_dot(min(r0 + 15u, last), g, s, &xg));
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r0 = ((wid.x + wid.y * groups.x) * WG + lid) * ROWS_OWNED;
  if (r0 >= params.rows) {
    return;
  }
  let n = min(ROWS_OWNED, params.rows - r0);
  let last = r0 + n - 1u;
  let full = params.cols / 32u; // groups whose x needs no mask
  var acc = array<vec4<f32>, 4>();
  for (var g = 0u; g < full; g++) {
    add_rows_dot(&acc, r0, last, g, false);
  }
  if (params.cols % 32u != 0u) {
    add_rows_dot(&acc, r0, last, full, true);
  }
  for (var j = 0u; j < n; j++) {
    let o = params.first_row + r0 + j;
    let v = acc[j / 4u][j % 4u];
    y[o] = select(v, y[o] + v, params.accumulate == 1u);
  }
}
