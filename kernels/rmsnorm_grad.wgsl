// rmsnorm_grad: the input gradient of rmsnorm, one row per workgroup. With r = 1/sqrt(mean(x²) +
// eps) and g = dy · w: dx = r g − x r³ (Σ g x) / dim, added to dx (the residual stream's
// gradient) when accumulate == 1. Stores r per row for rmsnorm_weight_grad.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (rows)
//   1 params: uniform Params { dim: u32, eps: f32, accumulate: u32 }
//   2 x:      storage, read        array<f32>  [tokens, dim] (the norm's input)
//   3 w:      storage, read        array<f32>  [dim]
//   4 dy:     storage, read        array<f32>  [tokens, dim]
//   5 dx:     storage, read_write  array<f32>  [tokens, dim]
//   6 rstd:   storage, read_write  array<f32>  [tokens]: r
// Dispatch: tokens workgroups, folded into (x, y) with x ≤ 65535; WG threads each (override WG,
// a power of two ≤ 256).
// Precision: f32 accumulate.

struct Params { dim: u32, eps: f32, accumulate: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let row = workgroup_of(at);
  if (row >= frame.tokens) {
    return;
  }
  let base = row * params.dim;
  var squares = 0.0;
  var gx = 0.0;
  for (var i = lid; i < params.dim; i += WG) {
    let v = x[base + i];
    squares += v * v;
    gx += dy[base + i] * w[i] * v;
  }
  let r = 1.0 / sqrt(workgroup_sum(lid, squares) / f32(params.dim) + params.eps);
  let c = workgroup_sum(lid, gx) * r * r * r / f32(params.dim);
  for (var i = lid; i < params.dim; i += WG) {
    let g = r * dy[base + i] * w[i] - x[base + i] * c;
    dx[base + i] = select(g, dx[base + i] + g, params.accumulate == 1u);
  }
  if (lid == 0u) {
    rstd[row] = r;
  }
}
