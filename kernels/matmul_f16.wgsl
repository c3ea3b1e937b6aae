// matmul_f16: Y[t, first_row + r] (+)= Σ_k X[t, k] · W[r, k] for a prompt (prefill). Each workgroup
// computes a 16×16 tile of Y (16 tokens × 16 rows), staging 16-wide slices of X and W in
// workgroup memory so each weight element is read once per 16 tokens.
// Bindings (group 0):
//   0 frame:  uniform Frame  { start: u32, tokens: u32 }       (per forward)
//   1 params: uniform Params { rows: u32, cols: u32, first_row: u32, y_stride: u32, accumulate: u32 }
//   2 x:      storage, read        array<f32>  [tokens, cols]
//   3 w:      storage, read        array<u32>  [rows, cols], f16 packed two per u32 (element i in half i & 1), widened exactly with unpack2x16float
//   4 y:      storage, read_write  array<f32>  [tokens, y_stride]; Y += X·Wᵀ when accumulate == 1
// Dispatch: ceil(rows / 16) * ceil(tokens / 16) workgroups (row tile fastest), folded into (x, y)
// with x ≤ 65535; 16×16 threads each.
// Precision: f32 multiply-accumulate.

struct Frame { start: u32, tokens: u32 }
struct Params { rows: u32, cols: u32, first_row: u32, y_stride: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TILE: u32 = 16u;
var<workgroup> xs: array<array<f32, 16>, 16>; // [token][k]
var<workgroup> ws: array<array<f32, 16>, 16>; // [row][k]

fn weight(i: u32) -> f32 {
  let pair = unpack2x16float(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let g = wid.x + wid.y * groups.x;
  let row_tiles = (params.rows + TILE - 1u) / TILE;
  let r0 = (g % row_tiles) * TILE;
  let t0 = (g / row_tiles) * TILE;
  if (t0 >= frame.tokens) {
    return;
  }
  var acc = 0.0;
  for (var k0 = 0u; k0 < params.cols; k0 += TILE) {
    let k = k0 + lid.x;
    let xt = t0 + lid.y;
    let wr = r0 + lid.y;
    xs[lid.y][lid.x] = select(0.0, x[xt * params.cols + k], xt < frame.tokens && k < params.cols);
    ws[lid.y][lid.x] = select(0.0, weight(wr * params.cols + k), wr < params.rows && k < params.cols);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE; kk++) {
      acc += xs[lid.y][kk] * ws[lid.x][kk];
    }
    workgroupBarrier();
  }
  let r = r0 + lid.x;
  let t = t0 + lid.y;
  if (r < params.rows && t < frame.tokens) {
    let o = t * params.y_stride + params.first_row + r;
    y[o] = select(acc, y[o] + acc, params.accumulate == 1u);
  }
}
