// read_bandwidth: reads a buffer once with vec4<u32> loads and writes one word per thread, the
// roofline reference for bandwidth-bound kernels (a kernel that only reads as fast as possible),
// in the access pattern of the decode matvecs: OWNED = false (matvec, GPUs): workgroup g reads the
// g-th contiguous slice as 8 interleaved streams (like the 8 rows of a matvec workgroup), its
// threads reading consecutive vec4s of each stream; OWNED = true (matvec_rows, software adapters):
// each invocation streams its own slice as 8 streams side by side (its "8 rows"), with no bounds
// test in the loop. Independent accumulators; no workgroup memory or barrier.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused; shared layout)
//   1 params: uniform Params { vec4s: u32 }
//   2 src:    storage, read        array<vec4<u32>>  [vec4s]
//   3 out:    storage, read_write  array<u32>        [workgroups · WG]
// Dispatch: G workgroups of WG threads, folded into (x, y) with x ≤ 65535. Slices: OWNED = false,
// ceil(vec4s / G) per workgroup; OWNED = true, 8·floor(vec4s / (8·G·WG)) per invocation (the
// remainder, under 128 bytes per invocation, is not read).
// Precision: integer XOR (exact; only defeats dead-code elimination).

struct Params { vec4s: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

/** Each invocation reads a slice of its own (else its workgroup's threads share one). */
override OWNED: bool = false;

/** src[i], or zero past the slice (an owned slice needs no test). */
fn load(i: u32, end: u32) -> vec4<u32> {
  return select(select(vec4<u32>(0u), src[i], i < end), src[i], OWNED);
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let g = workgroup_of(at);
  let units = at.groups.x * at.groups.y * select(1u, WG, OWNED);
  let unit = select(g, g * WG + lid, OWNED);
  let slice = select((params.vec4s + units - 1u) / units, 8u * (params.vec4s / (8u * units)), OWNED);
  let start = unit * slice;
  let end = min(params.vec4s, start + slice);
  let sub = (slice + 7u) / 8u; // vec4s per stream
  // Eight named accumulators (not an array: dynamic indexing would spill).
  var a0 = vec4<u32>(0u);
  var a1 = vec4<u32>(0u);
  var a2 = vec4<u32>(0u);
  var a3 = vec4<u32>(0u);
  var a4 = vec4<u32>(0u);
  var a5 = vec4<u32>(0u);
  var a6 = vec4<u32>(0u);
  var a7 = vec4<u32>(0u);
  for (var k = select(lid, 0u, OWNED); k < sub; k += select(WG, 1u, OWNED)) {
    let i = start + k;
    a0 ^= load(i, end);
    a1 ^= load(i + sub, end);
    a2 ^= load(i + 2u * sub, end);
    a3 ^= load(i + 3u * sub, end);
    a4 ^= load(i + 4u * sub, end);
    a5 ^= load(i + 5u * sub, end);
    a6 ^= load(i + 6u * sub, end);
    a7 ^= load(i + 7u * sub, end);
  }
  let acc = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
  out[g * WG + lid] = acc.x ^ acc.y ^ acc.z ^ acc.w; // a word per thread: no barrier to pay for
}
