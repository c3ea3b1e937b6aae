// silu_mul_grad: the gradient of silu_mul's h = silu(g) · u through each token's packed
// [gate | up] row: du = dh · silu(g), dg = dh · u · σ(g) (1 + g (1 − σ(g))).
// Bindings (group 0):
//   0 frame:    the prelude's { tokens }  (per batch)
//   1 params:   uniform Params { width: u32 }
//   2 gate_up:  storage, read        array<f32>  [tokens, 2 · width]
//   3 dh:       storage, read        array<f32>  [tokens, width]
//   4 dgate_up: storage, read_write  array<f32>  [tokens, 2 · width]
// Dispatch: shared/elementwise over tokens · width items.
// Precision: f32.

struct Params { width: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> gate_up: array<f32>;
@group(0) @binding(3) var<storage, read> dh: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgate_up: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.width;
}

fn item(i: u32) {
  let src = (i / params.width) * 2u * params.width + i % params.width;
  let g = gate_up[src];
  let u = gate_up[src + params.width];
  let sigmoid = 1.0 / (1.0 + exp(-g));
  dgate_up[src] = dh[i] * u * sigmoid * (1.0 + g * (1.0 - sigmoid));
  dgate_up[src + params.width] = dh[i] * g * sigmoid;
}
