// matvec: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode), the bandwidth-bound
// step. Each workgroup computes ROWS = 8 rows; its WG threads walk the rows' 8-element chunks with
// 16-byte loads (consecutive threads, consecutive chunks), reusing each x chunk for the 8 rows,
// then reduce in workgroup memory.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of 8, masked)
//   3 w:      the matrix [rows, stride], from a float format (kernels/formats/: f32, f16, bf16),
//             whose chunk_dot reads it 8 elements at a time; stride % 8 == 0, zero padded
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: ceil(rows / 8) workgroups, folded into (x, y) with x ≤ 65535; WG threads each (power of two ≤ 256).
// Precision: f32 multiply-accumulate.

struct Frame { tokens: u32 }
struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
const ROWS: u32 = 8u;
var<workgroup> partial: array<array<vec4<f32>, 2>, 256>; // per thread: rows 0–3, rows 4–7

/** x[4v..4v+3] with elements at or past cols zeroed (they meet zero padding, but may be NaN). */
fn x_at(v: u32) -> vec4<f32> {
  let first = 4u * v;
  let keep = vec4<u32>(first, first + 1u, first + 2u, first + 3u) < vec4<u32>(params.cols);
  return select(vec4<f32>(0.0), x[v], keep);
}

/** Row j (< n) of this workgroup's dot with chunk c, or 0 past the last row. */
fn row_dot(j: u32, n: u32, base: u32, chunks: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  if (j >= n) {
    return 0.0;
  }
  return chunk_dot(base + j * chunks, xa, xb);
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
  let chunks = params.stride / 8u;
  let n = min(ROWS, params.rows - r0);
  var lo = vec4<f32>(0.0);
  var hi = vec4<f32>(0.0);
  for (var c = lid; c < chunks; c += WG) {
    let xa = x_at(2u * c);
    let xb = x_at(2u * c + 1u);
    let base = r0 * chunks + c;
    lo += vec4<f32>(row_dot(0u, n, base, chunks, xa, xb), row_dot(1u, n, base, chunks, xa, xb),
                    row_dot(2u, n, base, chunks, xa, xb), row_dot(3u, n, base, chunks, xa, xb));
    hi += vec4<f32>(row_dot(4u, n, base, chunks, xa, xb), row_dot(5u, n, base, chunks, xa, xb),
                    row_dot(6u, n, base, chunks, xa, xb), row_dot(7u, n, base, chunks, xa, xb));
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
