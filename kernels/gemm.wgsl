// gemm: C[m, n] (+)= α · Σ_k A[m, k] · B[n, k] for f32 matrices laid out by strides and offsets
// (so an operand may be a column slice of a wider matrix: a LoRA adapter's rows of a fused q|k|v
// output), so one kernel
// gives training's three products of a linear layer: the forward X·Wᵀ, the input gradient dY·W
// and the weight gradient dYᵀ·X (a transposed operand is the same memory with its strides
// swapped). Each invocation computes an 8 × 8 block of C (16 loads per 64 multiply-adds; 4 × 4
// blocks measured 2× slower on lavapipe); neighbouring invocations take neighbouring n blocks, so
// they share A's rows.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused: sizes are in params)
//   1 params: uniform Params { m, n, k, a_m, a_k, b_n, b_k, c_m, accumulate, a_0, b_0, c_0: u32,
//             alpha: f32 }; A[m, k] is a[a_0 + m · a_m + k · a_k], B[n, k] is
//             b[b_0 + n · b_n + k · b_k], C[m, n] is c[c_0 + m · c_m + n]
//   2 a:      storage, read        array<f32>
//   3 b:      storage, read        array<f32>
//   4 c:      storage, read_write  array<f32>; C += A·Bᵀ when accumulate == 1
// Dispatch: ceil(ceil(m / 8) · ceil(n / 8) / WG) workgroups, folded into (x, y) with x ≤ 65535;
// WG threads each.
// Precision: f32 multiply-accumulate in k order.

struct Params {
  m: u32, n: u32, k: u32, a_m: u32, a_k: u32, b_n: u32, b_k: u32, c_m: u32, accumulate: u32,
  a_0: u32, b_0: u32, c_0: u32, alpha: f32,
}

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let i = workgroup_of(at) * WG + at.lid;
  let n_blocks = (params.n + 7u) / 8u;
  let m0 = (i / n_blocks) * 8u;
  let n0 = (i % n_blocks) * 8u;
  if (m0 >= params.m) {
    return;
  }
  // Rows and columns past the end repeat the last one (their results are not written).
  var am: array<u32, 8>;
  var bn: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) {
    am[j] = params.a_0 + min(m0 + j, params.m - 1u) * params.a_m;
    bn[j] = params.b_0 + min(n0 + j, params.n - 1u) * params.b_n;
  }
  var lo: array<vec4<f32>, 8>; // lo[row of the block][columns 0–3]
  var hi: array<vec4<f32>, 8>; // columns 4–7
  for (var k = 0u; k < params.k; k++) {
    let ak = k * params.a_k;
    let bk = k * params.b_k;
    let b_lo = vec4<f32>(b[bn[0] + bk], b[bn[1] + bk], b[bn[2] + bk], b[bn[3] + bk]);
    let b_hi = vec4<f32>(b[bn[4] + bk], b[bn[5] + bk], b[bn[6] + bk], b[bn[7] + bk]);
    for (var r = 0u; r < 8u; r++) {
      let av = a[am[r] + ak];
      lo[r] += av * b_lo;
      hi[r] += av * b_hi;
    }
  }
  for (var r = 0u; r < 8u; r++) {
    for (var j = 0u; j < 8u; j++) {
      if (m0 + r < params.m && n0 + j < params.n) {
        let o = params.c_0 + (m0 + r) * params.c_m + n0 + j;
        let v = params.alpha * select(hi[r][j & 3u], lo[r][j & 3u], j < 4u);
        c[o] = select(v, c[o] + v, params.accumulate == 1u);
      }
    }
  }
}
