// silu_mul: the SwiGLU activation h = silu(gate) · up = gate / (1 + exp(−gate)) · up, reading each
// token's packed [gate | up] row.
// Bindings (group 0):
//   0 frame:   uniform Frame  { tokens: u32 }      (per forward)
//   1 params:  uniform Params { width: u32 }
//   2 gate_up: storage, read        array<f32>  [tokens, 2 · width]
//   3 h:       storage, read_write  array<f32>  [tokens, width]
// Dispatch: ceil(tokens * width / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads.
// Precision: f32.

struct Frame { tokens: u32 }
struct Params { width: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> gate_up: array<f32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * groups.x) * WG + lid;
  if (i >= frame.tokens * params.width) {
    return;
  }
  let src = (i / params.width) * 2u * params.width + i % params.width;
  let g = gate_up[src];
  h[i] = g / (1.0 + exp(-g)) * gate_up[src + params.width];
}
