// sum_into: total[0] += x[0] + … + x[tokens − 1]: adds one pass's values (per-row losses) to a
// running total that stays on the GPU, so a long evaluation reads back one number.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }      (values this pass)
//   1 x:      storage, read        array<f32>  [tokens]
//   2 total:  storage, read_write  array<f32>  [1]
// Dispatch: 1 workgroup of WG threads (override WG, a power of two ≤ 256).
// Precision: f32 (tree sum within the pass).

struct Frame { tokens: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;

override WG: u32 = 64u;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < frame.tokens; i += WG) {
    sum += x[i];
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      partial[lid] += partial[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    total[0] += partial[0];
  }
}
