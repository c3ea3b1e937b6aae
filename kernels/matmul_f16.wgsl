// matmul_f16: Y[t, first_row + r] (+)= Σ_k X[t, k] · W[r, k] for a prompt (prefill). Each workgroup
// of 8×8 threads computes a 32×32 tile of Y (32 tokens × 32 rows), each thread a 4×4 block in
// registers; 32-wide slices of X and W are staged in workgroup memory, so each weight element is
// read once per 32 tokens and each staged value feeds 4 multiply-adds.
// Bindings (group 0):
//   0 frame:  uniform Frame  { start: u32, tokens: u32 }       (per forward)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<f32>  [tokens, cols]
//   3 w:      storage, read        array<u32>  [rows, stride], f16 packed two per u32 (element i in half i & 1), widened exactly with unpack2x16float
//   4 y:      storage, read_write  array<f32>  [tokens, y_stride]; Y += X·Wᵀ when accumulate == 1
// Dispatch: ceil(rows / 32) * ceil(tokens / 32) workgroups (row tile fastest), folded into (x, y)
// with x ≤ 65535; 8×8 threads each.
// Precision: f32 multiply-accumulate.

struct Frame { start: u32, tokens: u32 }
struct Params { rows: u32, cols: u32, stride: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TILE: u32 = 32u;
const K_STEP: u32 = 32u;
var<workgroup> xs: array<array<f32, 33>, 32>; // [token][k], padded against bank conflicts
var<workgroup> ws: array<array<f32, 33>, 32>; // [row][k]

fn weight(i: u32) -> f32 {
  let pair = unpack2x16float(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(8, 8)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let g = wid.x + wid.y * groups.x;
  let row_tiles = (params.rows + TILE - 1u) / TILE;
  let r0 = (g % row_tiles) * TILE;
  let t0 = (g / row_tiles) * TILE;
  if (t0 >= frame.tokens) {
    return;
  }
  var acc: array<vec4<f32>, 4>; // acc[i][j]: token t0 + 4·lid.y + i, row r0 + 4·lid.x + j
  for (var k0 = 0u; k0 < params.cols; k0 += K_STEP) {
    // 64 threads stage 32×32 values of X and of W: 16 each, walking k fastest.
    for (var e = li; e < TILE * K_STEP; e += 64u) {
      let i = e / K_STEP;
      let k = k0 + e % K_STEP;
      let t = t0 + i;
      let r = r0 + i;
      xs[i][e % K_STEP] = select(0.0, x[t * params.cols + k], t < frame.tokens && k < params.cols);
      ws[i][e % K_STEP] = select(0.0, weight(r * params.stride + k), r < params.rows && k < params.cols);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < K_STEP; kk++) {
      let wv = vec4<f32>(ws[4u * lid.x][kk], ws[4u * lid.x + 1u][kk], ws[4u * lid.x + 2u][kk], ws[4u * lid.x + 3u][kk]);
      acc[0] += xs[4u * lid.y][kk] * wv;
      acc[1] += xs[4u * lid.y + 1u][kk] * wv;
      acc[2] += xs[4u * lid.y + 2u][kk] * wv;
      acc[3] += xs[4u * lid.y + 3u][kk] * wv;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + 4u * lid.y + i;
    for (var j = 0u; j < 4u; j++) {
      let r = r0 + 4u * lid.x + j;
      if (r < params.rows && t < frame.tokens) {
        let o = t * params.y_stride + params.first_row + r;
        y[o] = select(acc[i][j], y[o] + acc[i][j], params.accumulate == 1u);
      }
    }
  }
}
