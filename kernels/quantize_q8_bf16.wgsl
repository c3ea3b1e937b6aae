// quantize_q8_bf16: packs a [rows, stride] bf16 matrix (as uploaded, zero padded) into the q8 format,
// one invocation per 32-element group, symmetric: scale = max|v| / 127 (stored as f16), q = round(v / scale) in [-127, 127]; one
// invocation per pair of groups (stride % 64 == 0) (round: half to even).
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (unused; shared layout)
//   1 params: uniform Params { groups: u32 }                   (invocations: see below)
//   2 w:      storage, read        array<u32>  [rows, stride], bf16 packed two per u32 (element i in half i & 1), widened exactly
//   3 q:      storage, read_write  array<u32>  [rows, stride / 4]: 4 int8 per word
//   4 scales: storage, read_write  array<u32>  [rows, stride / 64] f16 scales of groups 2i, 2i+1
// Dispatch: ceil(groups / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32; scales (and mins) stored as f16.

struct Frame { tokens: u32 }
struct Params { groups: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> q: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;

override WG: u32 = 64u;

fn weight(i: u32) -> f32 {
  let word = w[i >> 1u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
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
  var pair = vec2<f32>(0.0);
  for (var h = 0u; h < 2u; h++) {
    let base = (2u * g + h) * 32u;
    var big = 0.0;
    for (var k = 0u; k < 32u; k++) {
      big = max(big, abs(weight(base + k)));
    }
    let scale = unpack2x16float(pack2x16float(vec2<f32>(big / 127.0, 0.0))).x;
    let inv = select(0.0, 1.0 / scale, scale > 0.0);
    for (var word = 0u; word < 8u; word++) {
      var packed = 0u;
      for (var b = 0u; b < 4u; b++) {
        let v = clamp(round(weight(base + 4u * word + b) * inv), -127.0, 127.0);
        packed |= (bitcast<u32>(i32(v)) & 0xffu) << (8u * b);
      }
      q[(2u * g + h) * 8u + word] = packed;
    }
    pair[h] = scale;
  }
  scales[g] = pack2x16float(pair);
}
