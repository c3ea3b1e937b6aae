// gemm: C[m, n] (+)= Σ_k A[m, k] · B[n, k] for f32 matrices laid out by strides, so one kernel
// gives training's three products of a linear layer: the forward X·Wᵀ, the input gradient dY·W
// and the weight gradient dYᵀ·X (a transposed operand is the same memory with its strides
// swapped). Each invocation computes a 4 × 4 block of C; neighbouring invocations take
// neighbouring n blocks, so they share A's rows.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused: sizes are in params)
//   1 params: uniform Params { m, n, k, a_m, a_k, b_n, b_k, c_m, accumulate: u32 }; A[m, k] is
//             a[m · a_m + k · a_k], B[n, k] is b[n · b_n + k · b_k], C[m, n] is c[m · c_m + n]
//   2 a:      storage, read        array<f32>
//   3 b:      storage, read        array<f32>
//   4 c:      storage, read_write  array<f32>; C += A·Bᵀ when accumulate == 1
// Dispatch: ceil(ceil(m / 4) · ceil(n / 4) / WG) workgroups, folded into (x, y) with x ≤ 65535;
// WG threads each.
// Precision: f32 multiply-accumulate in k order.

struct Params { m: u32, n: u32, k: u32, a_m: u32, a_k: u32, b_n: u32, b_k: u32, c_m: u32, accumulate: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let i = workgroup_of(at) * WG + at.lid;
  let n_blocks = (params.n + 3u) / 4u;
  let m0 = (i / n_blocks) * 4u;
  let n0 = (i % n_blocks) * 4u;
  if (m0 >= params.m) {
    return;
  }
  // Rows and columns past the end repeat the last one (their results are not written).
  let am = vec4<u32>(min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.m - 1u))) *
    params.a_m;
  let bn = vec4<u32>(min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.n - 1u))) *
    params.b_n;
  var acc: array<vec4<f32>, 4>; // acc[row of the block][column]
  for (var k = 0u; k < params.k; k++) {
    let ak = k * params.a_k;
    let bk = k * params.b_k;
    let bv = vec4<f32>(b[bn.x + bk], b[bn.y + bk], b[bn.z + bk], b[bn.w + bk]);
    acc[0] += a[am.x + ak] * bv;
    acc[1] += a[am.y + ak] * bv;
    acc[2] += a[am.z + ak] * bv;
    acc[3] += a[am.w + ak] * bv;
  }
  for (var r = 0u; r < 4u; r++) {
    for (var j = 0u; j < 4u; j++) {
      if (m0 + r < params.m && n0 + j < params.n) {
        let o = (m0 + r) * params.c_m + n0 + j;
        c[o] = select(acc[r][j], c[o] + acc[r][j], params.accumulate == 1u);
      }
    }
  }
}
