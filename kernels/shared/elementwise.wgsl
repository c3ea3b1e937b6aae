// shared/elementwise: the entry point of kernels made of independent items (an element, a group
// of weights): invocation i runs the body's `item(i)` when i < the body's `items()`.
// Bindings (group 0): none.
// Dispatch: ceil(items / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: n/a.

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let i = workgroup_of(at) * WG + at.lid;
  if (i < items()) {
    item(i);
  }
}
