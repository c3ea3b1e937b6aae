// matvec_rows_q8: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode) on software
// adapters (llvmpipe): each invocation owns ROWS = 8 consecutive rows and walks them whole in
// 32-weight groups, reusing each x group for its 8 rows. No workgroup memory and no barrier: on
// llvmpipe a barrier makes the shader a coroutine and costs more than the math (this kernel reads
// 1.4–2.8× faster there than matvec_q8). GPUs use matvec_q8: this one would run too few
// threads there, and uncoalesced.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of 32 — robust access — and masked)
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 16], int8 quants, a group of 32 per two vec4 (element k in byte k % 4 of word k / 4); stride % 64 == 0
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
//   5 scales: storage, read        array<u32>  [rows, stride / 64], f16 scale per 32-element group, two per u32 (group g in half g & 1)
// Dispatch: ceil(rows / (8 · WG)) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32 multiply-accumulate; the scale applied once per group (Σ scale·q·x = scale · Σ q·x).

struct Frame { tokens: u32 }
struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

override WG: u32 = 64u;
const ROWS: u32 = 8u;

const TO_TOP = vec4<u32>(24u, 16u, 8u, 0u);
const TOP = vec4<u32>(0xff000000u);
const TOP_PLACE = 5.9604644775390625e-08; // 2⁻²⁴

/** The 4 signed bytes of word v, each times 2²⁴, dotted with xs. */
fn dot_i8x4(v: u32, xs: vec4<f32>) -> f32 {
  return dot(vec4<f32>(bitcast<vec4<i32>>((vec4<u32>(v) << TO_TOP) & TOP)), xs);
}

/** One group of x: 8 vec4 (elements at or past cols zeroed when masked). */
fn x_group(g: u32, masked: bool) -> array<vec4<f32>, 8> {
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

/** Row j's dot with its group g. */
fn group_dot(row: u32, g: u32, xg: ptr<function, array<vec4<f32>, 8>>) -> f32 {
  let a = w[row * (params.stride / 16u) + 2u * g];
  let b = w[row * (params.stride / 16u) + 2u * g + 1u];
  let pair = unpack2x16float(scales[row * (params.stride / 64u) + g / 2u]);
  let scale = select(pair.x, pair.y, (g & 1u) == 1u) * TOP_PLACE;
  let d = dot_i8x4(a.x, (*xg)[0]) + dot_i8x4(a.y, (*xg)[1]) + dot_i8x4(a.z, (*xg)[2])
        + dot_i8x4(a.w, (*xg)[3]) + dot_i8x4(b.x, (*xg)[4]) + dot_i8x4(b.y, (*xg)[5])
        + dot_i8x4(b.z, (*xg)[6]) + dot_i8x4(b.w, (*xg)[7]);
  return scale * d;
}

/** The 8 rows' dots with group g (rows past the last repeat it; their sums are never written). */
fn rows_dot(r0: u32, n: u32, g: u32, masked: bool) -> array<vec4<f32>, 2> {
  var xg = x_group(g, masked);
  let last = r0 + n - 1u;
  return array<vec4<f32>, 2>(
    vec4<f32>(group_dot(r0, g, &xg), group_dot(min(r0 + 1u, last), g, &xg),
              group_dot(min(r0 + 2u, last), g, &xg), group_dot(min(r0 + 3u, last), g, &xg)),
    vec4<f32>(group_dot(min(r0 + 4u, last), g, &xg), group_dot(min(r0 + 5u, last), g, &xg),
              group_dot(min(r0 + 6u, last), g, &xg), group_dot(min(r0 + 7u, last), g, &xg)));
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r0 = ((wid.x + wid.y * groups.x) * WG + lid) * ROWS;
  if (r0 >= params.rows) {
    return;
  }
  let n = min(ROWS, params.rows - r0);
  let full = params.cols / 32u; // groups whose x needs no mask
  var acc = array<vec4<f32>, 2>();
  for (var g = 0u; g < full; g++) {
    let d = rows_dot(r0, n, g, false);
    acc = array<vec4<f32>, 2>(acc[0] + d[0], acc[1] + d[1]);
  }
  if (params.cols % 32u != 0u) {
    let d = rows_dot(r0, n, full, true);
    acc = array<vec4<f32>, 2>(acc[0] + d[0], acc[1] + d[1]);
  }
  for (var j = 0u; j < n; j++) {
    let o = params.first_row + r0 + j;
    let v = acc[j / 4u][j % 4u];
    y[o] = select(v, y[o] + v, params.accumulate == 1u);
  }
}
