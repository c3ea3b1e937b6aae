// matvec_q5: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode), the bandwidth-bound
// step. Each workgroup computes ROWS = 8 rows; its WG threads walk the rows' 32-weight groups (one
// 16-byte load of quants per row and group, consecutive threads on consecutive groups), reusing
// each x group for the 8 rows, then reduce in workgroup memory.
// Dequantizing costs one AND and one conversion per 4 weights: a nibble is masked in place (q·16^k,
// k < 4, exact in f32; the upper 4 nibbles after a shift by 16) and x is pre-scaled by 16^-k once
// for all 8 rows; the min term is min · Σx of the group, also shared by the rows. Each quant's
// high bit (from the bit plane beside its group's scale, laid out to shift into place) is ORed in
// above its nibble before the conversion.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of 32 — robust access — and masked)
//   3 w:      storage, read        array<vec4<u32>>  [rows, stride / 32], low 4 bits of the 5-bit quants, 32 per vec4 (element k in nibble k % 8 of word k / 8); stride % 64 == 0
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
//   5 scales: storage, read        array<u32>  [rows, stride / 64, 3], per 64-element group: (scale, min) as two f16,
//             then the quants' high bits (bit 4j + u of word 1 + h: quant 32h + 8u + j): w = min + scale · q
// Dispatch: ceil(rows / 8) workgroups, folded into (x, y) with x ≤ 65535; WG threads each (power of two ≤ 256).
// Precision: f32 multiply-accumulate; scale and min applied once per 32 weights (Σ scale·q·x = scale · Σ q·x).

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
var<workgroup> partial: array<array<vec4<f32>, 2>, 256>; // per thread: rows 0–3, rows 4–7

// Nibbles 0–3 of a word (and 4–7, after a shift by 16) masked in place, and the x scaling that
// undoes their place value.
const LOW = vec4<u32>(0xfu, 0xf0u, 0xf00u, 0xf000u);
const LOW_PLACE = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);

/** The 4 low nibbles of v masked in place (q·16^k ≤ 0xf000: a signed conversion, native on CPUs). */
fn nibbles(v: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) & LOW));
}

/** One group of x: 8 vec4, pre-scaled by the place values, and its plain sum. */
struct XGroup {
  v: array<vec4<f32>, 8>,
  sum: f32,
}

fn x_group(g: u32, masked: bool) -> XGroup {
  var out: XGroup;
  var total = vec4<f32>(0.0);
  if (masked) {
    for (var i = 0u; i < 8u; i++) {
      let first = 32u * g + 4u * i;
      let keep = vec4<u32>(first, first + 1u, first + 2u, first + 3u) < vec4<u32>(params.cols);
      out.v[i] = select(vec4<f32>(0.0), x[8u * g + i], keep);
    }
  } else {
    for (var i = 0u; i < 8u; i++) {
      out.v[i] = x[8u * g + i];
    }
  }
  for (var i = 0u; i < 8u; i++) {
    total += out.v[i];
    out.v[i] *= LOW_PLACE;
  }
  out.sum = dot(total, vec4<f32>(1.0));
  return out;
}

// Nibbles with their high bits, masked in place: lane j holds (q + 16·high)·16^j, exact in f32.
const HIGH = vec4<u32>(0x10u, 0x100u, 0x1000u, 0x10000u);

/** Quants j = 0–3 of nibble word v, with their high bits at bits 4j of h. */
fn quants(v: u32, h: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>((vec4<u32>(v) & LOW) | (vec4<u32>(h << 4u) & HIGH)));
}

/** Row j's dot with its 32-weight half-group g (its group of 64 is g / 2). */
fn group_dot(row: u32, g: u32, xg: ptr<function, XGroup>) -> f32 {
  let q = w[row * (params.stride / 32u) + g];
  let info = 3u * (row * (params.stride / 64u) + g / 2u);
  let sm = unpack2x16float(scales[info]);
  let h = scales[info + 1u + g % 2u]; // nibble word u's high bits at bits 4j + u
  let d = dot(quants(q.x, h), (*xg).v[0]) + dot(quants(q.x >> 16u, h >> 16u), (*xg).v[1])
        + dot(quants(q.y, h >> 1u), (*xg).v[2]) + dot(quants(q.y >> 16u, h >> 17u), (*xg).v[3])
        + dot(quants(q.z, h >> 2u), (*xg).v[4]) + dot(quants(q.z >> 16u, h >> 18u), (*xg).v[5])
        + dot(quants(q.w, h >> 3u), (*xg).v[6]) + dot(quants(q.w >> 16u, h >> 19u), (*xg).v[7]);
  return sm.x * d + sm.y * (*xg).sum;
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
