// matvec_rows: y[first_row + r] (+)= dot(W[r, :cols], x) for one token (decode) on software
// adapters (llvmpipe): each invocation owns ROWS = 8 consecutive rows and walks them whole in
// 8-element chunks, reusing each x chunk for its 8 rows. No workgroup memory and no barrier: on
// llvmpipe a barrier makes the shader a coroutine and costs more than the math (this kernel reads
// 1.4–2.8× faster there than matvec). GPUs use matvec: this one would run too few
// threads there, and uncoalesced.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward; unused: x is one row)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<vec4<f32>>  [cols / 4] (row 0; read up to the next multiple of 8, masked)
//   3 w:      the matrix [rows, stride], from a float format (kernels/formats/: f32, f16, bf16),
//             whose chunk_dot reads it 8 elements at a time; stride % 8 == 0, zero padded
//   4 y:      storage, read_write  array<f32>  [1, y_stride]; y += W·x when accumulate == 1
// Dispatch: ceil(rows / (8 · WG)) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32 multiply-accumulate.

struct Frame { tokens: u32 }
struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64u;
const ROWS: u32 = 8u;

/** x[4v..4v+3] with elements at or past cols zeroed (they meet zero padding, but may be NaN). */
fn x_at(v: u32) -> vec4<f32> {
  let first = 4u * v;
  let keep = vec4<u32>(first, first + 1u, first + 2u, first + 3u) < vec4<u32>(params.cols);
  return select(vec4<f32>(0.0), x[v], keep);
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
  let chunks = params.stride / 8u;
  let last = min(r0 + ROWS, params.rows) - 1u; // rows past it repeat it and are never written
  var lo = vec4<f32>(0.0);
  var hi = vec4<f32>(0.0);
  for (var c = 0u; c < chunks; c++) {
    let xa = x_at(2u * c);
    let xb = x_at(2u * c + 1u);
    lo += vec4<f32>(chunk_dot(r0 * chunks + c, xa, xb),
                    chunk_dot(min(r0 + 1u, last) * chunks + c, xa, xb),
                    chunk_dot(min(r0 + 2u, last) * chunks + c, xa, xb),
                    chunk_dot(min(r0 + 3u, last) * chunks + c, xa, xb));
    hi += vec4<f32>(chunk_dot(min(r0 + 4u, last) * chunks + c, xa, xb),
                    chunk_dot(min(r0 + 5u, last) * chunks + c, xa, xb),
                    chunk_dot(min(r0 + 6u, last) * chunks + c, xa, xb),
                    chunk_dot(min(r0 + 7u, last) * chunks + c, xa, xb));
  }
  for (var j = 0u; j <= last - r0; j++) {
    let o = params.first_row + r0 + j;
    let v = select(hi[j % 4u], lo[j % 4u], j < 4u);
    y[o] = select(v, y[o] + v, params.accumulate == 1u);
  }
}
