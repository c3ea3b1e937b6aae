// fma_peak: the device's f32 multiply-add rate as our kernels can reach it, the roofline for
// compute-bound work (prefill): each invocation runs `iterations` rounds of eight independent
// vec4 multiply-adds on registers (a ← a · 0.9999 + 0.0001: no overflow, no denormals) and writes
// one sum so nothing is eliminated. FLOPs = invocations · iterations · 8 · 4 · 2.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused; shared layout)
//   1 params: uniform Params { iterations: u32 }
//   2 out:    storage, read_write  array<f32>  [workgroups · WG]
// Dispatch: G workgroups of WG threads, folded into (x, y) with x ≤ 65535.
// Precision: f32 (the values are not used).

struct Params { iterations: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let i = workgroup_of(at) * WG + at.lid;
  let m = vec4<f32>(0.9999);
  let c = vec4<f32>(0.0001);
  var a0 = vec4<f32>(f32(i & 7u));
  var a1 = a0 + 1.0;
  var a2 = a0 + 2.0;
  var a3 = a0 + 3.0;
  var a4 = a0 + 4.0;
  var a5 = a0 + 5.0;
  var a6 = a0 + 6.0;
  var a7 = a0 + 7.0;
  for (var k = 0u; k < params.iterations; k++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  out[i] = s.x + s.y + s.z + s.w;
}
