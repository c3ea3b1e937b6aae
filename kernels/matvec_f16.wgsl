// matvec_f16: y[first_row + r] (+)= dot(W[r, :], x) for one token (decode). One workgroup per
// row; its WG threads stride over the columns and reduce in workgroup memory.
// Bindings (group 0):
//   0 frame:  uniform Frame  { start: u32, tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<f32>  [1, cols]
//   3 w:      storage, read        array<u32>  [rows, cols], f16 packed two per u32 (element i in half i & 1), widened exactly with unpack2x16float
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: rows workgroups, folded into (x, y) with x ≤ 65535; WG threads each (power of two ≤ 256).
// Precision: f32 multiply-accumulate.

struct Frame { start: u32, tokens: u32 }
struct Params { rows: u32, cols: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
var<workgroup> partial: array<f32, 256>;

fn weight(i: u32) -> f32 {
  let pair = unpack2x16float(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * groups.x;
  if (r >= params.rows) {
    return;
  }
  let base = r * params.cols;
  var acc = 0.0;
  for (var k = lid; k < params.cols; k += WG) {
    acc += weight(base + k) * x[k];
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let o = params.first_row + r;
    y[o] = select(partial[0], y[o] + partial[0], params.accumulate == 1u);
  }
}
