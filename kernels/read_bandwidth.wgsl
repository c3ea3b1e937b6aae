// read_bandwidth: reads a buffer once with vec4<u32> loads and writes one word per workgroup, the
// roofline reference for bandwidth-bound kernels (a kernel that only reads as fast as possible).
// Bindings (group 0):
//   0 frame:  uniform Frame  { start: u32, tokens: u32 }       (unused; shared layout)
//   1 params: uniform Params { vec4s: u32 }
//   2 src:    storage, read        array<vec4<u32>>  [vec4s]
//   3 out:    storage, read_write  array<u32>        [workgroups]
// Dispatch: G workgroups of WG threads, folded into (x, y) with x ≤ 65535; workgroup g reads the
// g-th contiguous slice, its threads reading consecutive vec4s.
// Precision: integer XOR (exact; only defeats dead-code elimination).

struct Frame { start: u32, tokens: u32 }
struct Params { vec4s: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

override WG: u32 = 64u;
var<workgroup> partial: array<u32, 256>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.x + wid.y * groups.x;
  let slice = (params.vec4s + groups.x * groups.y - 1u) / (groups.x * groups.y);
  let end = min(params.vec4s, (g + 1u) * slice);
  var acc = vec4<u32>(0u);
  for (var i = g * slice + lid; i < end; i += WG) {
    acc ^= src[i];
  }
  partial[lid] = acc.x ^ acc.y ^ acc.z ^ acc.w;
  workgroupBarrier();
  if (lid == 0u) {
    var x = 0u;
    for (var t = 0u; t < WG; t++) {
      x ^= partial[t];
    }
    out[g] = x;
  }
}
