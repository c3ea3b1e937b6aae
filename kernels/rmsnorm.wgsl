// rmsnorm: y[i] = w * (x[row] * 1/sqrt(mean(x[row]²) + eps)), as HF LlamaRMSNorm, one row per
// workgroup. With last_only == 1 only the last token's row is normalised, into y row 0 (the
// final norm before lm_head during generation).
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (per forward)
//   1 params: uniform Params { dim: u32, eps: f32, last_only: u32 }
//   2 x:      storage, read        array<f32>  [tokens, dim]
//   3 w:      storage, read        array<f32>  [dim]
//   4 y:      storage, read_write  array<f32>  [tokens, dim] ([1, dim] when last_only)
// Dispatch: tokens workgroups (1 when last_only), folded into (x, y) with x ≤ 65535; WG threads
// each (override WG, a power of two ≤ 256).
// Precision: f32 accumulate, as HF (which upcasts to float32).

struct Params { dim: u32, eps: f32, last_only: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let g = workgroup_of(at);
  let last_only = params.last_only == 1u;
  if (g >= select(frame.tokens, 1u, last_only)) {
    return;
  }
  let src = select(g, frame.tokens - 1u, last_only) * params.dim;
  let dst = g * params.dim;
  var sum = 0.0;
  for (var i = lid; i < params.dim; i += WG) {
    let v = x[src + i];
    sum += v * v;
  }
  let inv = 1.0 / sqrt(workgroup_sum(lid, sum) / f32(params.dim) + params.eps);
  for (var i = lid; i < params.dim; i += WG) {
    y[dst + i] = w[i] * (x[src + i] * inv);
  }
}
