// silu_mul: the SwiGLU activation h = silu(gate) · up = gate / (1 + exp(−gate)) · up, reading each
// token's packed [gate | up] row.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (per forward)
//   1 params:  uniform Params { width: u32 }
//   2 gate_up: storage, read        array<f32>  [tokens, 2 · width]
//   3 h:       storage, read_write  array<f32>  [tokens, width]
// Dispatch: shared/elementwise over tokens · width items.
// Precision: f32.

struct Params { width: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> gate_up: array<f32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.width;
}

fn item(i: u32) {
  let src = (i / params.width) * 2u * params.width + i % params.width;
  let g = gate_up[src];
  h[i] = g / (1.0 + exp(-g)) * gate_up[src + params.width];
}
