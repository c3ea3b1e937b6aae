// square_sum: partial sums of squares of a tensor, for the global gradient norm: workgroup s
// writes Σ x[i]² over its slice of WG · 16 elements to partials[first + s]; the host adds the
// partials of every tensor (in f64).
// Bindings (group 0):
//   0 frame:    the prelude's { tokens }  (unused: sizes are in params)
//   1 params:   uniform Params { n: u32, first: u32 }
//   2 x:        storage, read        array<f32>  [n]
//   3 partials: storage, read_write  array<f32>  [first + ceil(n / (WG · 16))]
// Dispatch: ceil(n / (WG · 16)) workgroups, folded into (x, y) with x ≤ 65535; WG threads each
// (override WG, a power of two ≤ 256).
// Precision: f32 within a slice.

struct Params { n: u32, first: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let slice = workgroup_of(at);
  let start = slice * WG * 16u;
  if (start >= params.n) {
    return;
  }
  var sum = 0.0;
  for (var i = start + at.lid; i < min(start + WG * 16u, params.n); i += WG) {
    sum += x[i] * x[i];
  }
  let total = workgroup_sum(at.lid, sum);
  if (at.lid == 0u) {
    partials[params.first + slice] = total;
  }
}
