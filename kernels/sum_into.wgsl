// sum_into: total[0] += x[0] + … + x[tokens − 1]: adds one pass's values (per-row losses) to a
// running total that stays on the GPU, so a long evaluation reads back one number.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (values this pass)
//   1 x:      storage, read        array<f32>  [tokens]
//   2 total:  storage, read_write  array<f32>  [1]
// Dispatch: 1 workgroup of WG threads (override WG, a power of two ≤ 256).
// Precision: f32 (tree sum within the pass).

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  var sum = 0.0;
  for (var i = lid; i < frame.tokens; i += WG) {
    sum += x[i];
  }
  let all = workgroup_sum(lid, sum);
  if (lid == 0u) {
    total[0] += all;
  }
}
