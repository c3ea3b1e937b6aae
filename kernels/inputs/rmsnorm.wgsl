// inputs/rmsnorm: a linear op's x normalised on its way in, as HF LlamaRMSNorm (the norm folded
// into the product that reads it, so it costs no launch): W·(g ⊙ x · r) = r · W·(g ⊙ x) with
// r = 1/sqrt(mean(x²) + eps), so each dot is taken with g ⊙ x and scaled by r once at the end,
// the row's sum of squares accumulated beside it from the same loads.
// Contract: see inputs/plain.wgsl. Reads params.cols and params.eps (the op's Params).
// Bindings (group 0):
//   6 norm:   storage, read        array<vec4<f32>>  [ceil(cols / 4)] the norm weight g, zero padded
// Precision: f32, as HF (which upcasts to float32); r multiplies the dot instead of each x, which
// differs from the separate rmsnorm kernel by rounding only.

@group(0) @binding(6) var<storage, read> norm: array<vec4<f32>>;

const X_NORMED: bool = true;

fn x_weight(v: u32) -> vec4<f32> {
  return norm[v];
}

fn x_scale(squares: f32) -> f32 {
  return 1.0 / sqrt(squares / f32(params.cols) + params.eps);
}
