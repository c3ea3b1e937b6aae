// rmsnorm_weight_grad: the weight gradient of rmsnorm, dw[i] += Σ_t dy[t, i] · x[t, i] · rstd[t],
// one invocation per column summing over the tokens (no atomics), with rstd from rmsnorm_grad.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (rows)
//   1 params: uniform Params { dim: u32 }
//   2 x:      storage, read        array<f32>  [tokens, dim] (the norm's input)
//   3 dy:     storage, read        array<f32>  [tokens, dim]
//   4 rstd:   storage, read        array<f32>  [tokens]
//   5 dw:     storage, read_write  array<f32>  [dim]
// Dispatch: shared/elementwise over dim items.
// Precision: f32, summed in token order.

struct Params { dim: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;

fn items() -> u32 {
  return params.dim;
}

fn item(i: u32) {
  var sum = 0.0;
  for (var t = 0u; t < frame.tokens; t++) {
    let at = t * params.dim + i;
    sum += dy[at] * x[at] * rstd[t];
  }
  dw[i] += sum;
}
