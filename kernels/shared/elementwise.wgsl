// shared/elementwise: the entry point of kernels made of independent items (an element, a group
// of weights): invocation i runs the body's `item(i)` when i < the body's `items()`.
// Bindings (group 0): none.
// Dispatch: ceil(items / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: n/a.

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = workgroup_index(wid, groups) * WG + lid;
  if (i < items()) {
    item(i);
  }
}
