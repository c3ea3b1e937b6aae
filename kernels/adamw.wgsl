// adamw: one step of torch.optim.AdamW on a parameter tensor, after global-norm clipping:
// g' = g · grad_scale; m = β1 m + (1 − β1) g'; v = β2 v + (1 − β2) g'²;
// p = p (1 − lr · weight_decay) − lr · (m / bc1) / (sqrt(v / bc2) + eps), where bc1, bc2 are the
// bias corrections 1 − β^step (weight_decay is 0 for tensors it does not apply to).
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused: sizes are in params)
//   1 params: uniform Params { n: u32, lr, beta1, beta2, eps, weight_decay, bc1, bc2,
//             grad_scale: f32 }
//   2 grad:   storage, read        array<f32>  [n]
//   3 p:      storage, read_write  array<f32>  [n]: the f32 master weights
//   4 m:      storage, read_write  array<f32>  [n]: first moments
//   5 v:      storage, read_write  array<f32>  [n]: second moments
// Dispatch: shared/elementwise over n items.
// Precision: f32, in torch's order of operations.

struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  bc1: f32,
  bc2: f32,
  grad_scale: f32,
}

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> p: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

fn items() -> u32 {
  return params.n;
}

fn item(i: u32) {
  let g = grad[i] * params.grad_scale;
  let m1 = params.beta1 * m[i] + (1.0 - params.beta1) * g;
  let v1 = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
  m[i] = m1;
  v[i] = v1;
  let decayed = p[i] * (1.0 - params.lr * params.weight_decay);
  p[i] = decayed - (params.lr / params.bc1) * m1 / (sqrt(v1) / sqrt(params.bc2) + params.eps);
}
