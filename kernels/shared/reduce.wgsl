// shared/reduce: a sum over a workgroup, for kernels with one row per workgroup.
// Bindings (group 0): none.
// Precision: f32 tree sum.

var<workgroup> partial: array<f32, 256>;

/** The sum of v over the workgroup's WG threads (a power of two ≤ 256), given to every thread. */
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier(); // partial may be reused at once
  return total;
}
