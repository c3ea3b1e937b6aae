// read_bandwidth_rows: reads a buffer once with vec4<u32> loads and writes one word per thread, the
// roofline reference for the decode matvecs of software adapters (matvec_rows_*): like them, each
// invocation streams its own contiguous slice as 8 streams side by side (its "8 rows"), with no
// workgroup memory, barrier or bounds test in the loop.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (unused; shared layout)
//   1 params: uniform Params { vec4s: u32 }
//   2 src:    storage, read        array<vec4<u32>>  [vec4s]
//   3 out:    storage, read_write  array<u32>        [workgroups · WG]
// Dispatch: G workgroups of WG threads, folded into (x, y) with x ≤ 65535; invocation i reads
// vec4s [i·slice, (i+1)·slice) with slice = 8·floor(vec4s / (8·G·WG)) (the remainder, under
// 128 bytes per invocation, is not read).
// Precision: integer XOR (exact; only defeats dead-code elimination).

struct Frame { tokens: u32 }
struct Params { vec4s: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * groups.x) * WG + lid;
  let sub = params.vec4s / (8u * groups.x * groups.y * WG); // vec4s per stream
  let start = i * 8u * sub;
  // Eight named accumulators (not an array: dynamic indexing would spill).
  var a0 = vec4<u32>(0u);
  var a1 = vec4<u32>(0u);
  var a2 = vec4<u32>(0u);
  var a3 = vec4<u32>(0u);
  var a4 = vec4<u32>(0u);
  var a5 = vec4<u32>(0u);
  var a6 = vec4<u32>(0u);
  var a7 = vec4<u32>(0u);
  for (var k = start; k < start + sub; k++) {
    a0 ^= src[k];
    a1 ^= src[k + sub];
    a2 ^= src[k + 2u * sub];
    a3 ^= src[k + 3u * sub];
    a4 ^= src[k + 4u * sub];
    a5 ^= src[k + 5u * sub];
    a6 ^= src[k + 6u * sub];
    a7 ^= src[k + 7u * sub];
  }
  let acc = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
  out[i] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
