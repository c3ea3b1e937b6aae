// outputs/silu_mul: the SwiGLU activation folded into the gate|up product's store, so it costs no
// launch and gate|up never reaches memory: the matrix's rows come interleaved in runs of 4 (gate
// rows 4u..4u+3, then up rows 4u..4u+3, each half zero padded to a multiple of 4 rows), so every
// 8-row unit holds 4 gates and their ups, and stores h[t, 4u + i] = silu(gate_i) · up_i =
// gate_i / (1 + exp(−gate_i)) · up_i. y is h [tokens, y_stride], y_stride the true width (padded
// rows past it are not stored); accumulate must be 0.
// Contract: see outputs/plain.wgsl; here every part's first_row is a multiple of 8.
// Bindings (group 0): none (y is the op's binding 4).
// Precision: f32, as the silu_mul kernel.

fn store_unit(t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>, n: u32) {
  let first = (params.first_row + r0) / 2u;
  for (var i = 0u; i < 4u; i++) {
    if (first + i < params.y_stride) {
      let g = lo[i];
      y[t * params.y_stride + first + i] = g / (1.0 + exp(-g)) * hi[i];
    }
  }
}
