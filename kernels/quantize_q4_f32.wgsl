// quantize_q4_f32: packs a [rows, stride] f32 matrix (as uploaded, zero padded) into the q4 format,
// one invocation per 32-element group, asymmetric: scale = (max − min) / 15, q = round((v − min) / scale) in [0, 15] (scale and min
// rounded to f16 first, so quants are fitted to what is stored); one invocation per group (round: half to even).
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (unused; shared layout)
//   1 params: uniform Params { groups: u32 }                   (invocations: see below)
//   2 w:      storage, read        array<f32>  [rows, stride], f32
//   3 q:      storage, read_write  array<u32>  [rows, stride / 8]: 8 nibbles per word
//   4 scales: storage, read_write  array<u32>  [rows, stride / 32] (scale, min) as two f16
// Dispatch: ceil(groups / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32; scales (and mins) stored as f16.

struct Frame { tokens: u32 }
struct Params { groups: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;

override WG: u32 = 64u;

fn weight(i: u32) -> f32 {
  return w[i];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = (wid.x + wid.y * groups.x) * WG + lid;
  if (g >= params.groups) {
    return;
  }
  let base = g * 32u;
  var lo = weight(base);
  var hi = lo;
  for (var k = 1u; k < 32u; k++) {
    let v = weight(base + k);
    lo = min(lo, v);
    hi = max(hi, v);
  }
  let stored = pack2x16float(vec2<f32>((hi - lo) / 15.0, lo));
  let sm = unpack2x16float(stored);
  let inv = select(0.0, 1.0 / sm.x, sm.x > 0.0);
  for (var word = 0u; word < 4u; word++) {
    var packed = 0u;
    for (var n = 0u; n < 8u; n++) {
      let v = clamp(round((weight(base + 8u * word + n) - sm.y) * inv), 0.0, 15.0);
      packed |= u32(v) << (4u * n);
    }
    q[g * 4u + word] = packed;
  }
  scales[g] = stored;
}
