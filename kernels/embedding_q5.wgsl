// embedding_q5: x[t, :] = table[ids[t] - first_row, :dim] for the ids that fall in this part of
// the table (a table larger than one binding is split by rows and launched once per part).
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (per forward)
//   1 params: uniform Params { dim: u32, stride: u32, first_row: u32, rows: u32 }
//   2 ids:    storage, read        array<u32>  [tokens]
//   3 w:      storage, read        array<u32>  [rows, stride / 8], low 4 bits of the 5-bit quants, 8 per u32 (element i in nibble i % 8)
//   4 x:      storage, read_write  array<f32>  [tokens, dim]
//   5 scales: storage, read        array<u32>  [rows, stride / 64, 3], per 64-element group: (scale, min) as two f16,
//             then the quants' high bits (bit 4j + u of word 1 + h: quant 32h + 8u + j); stride % 64 == 0
// Dispatch: ceil(tokens * dim / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32 dequantization.

struct Frame { tokens: u32 }
struct Params { dim: u32, stride: u32, first_row: u32, rows: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;

override WG: u32 = 64u;

fn weight(i: u32) -> f32 {
  let info = 3u * (i >> 6u);
  let high = (scales[info + 1u + ((i >> 5u) & 1u)] >> (4u * (i & 7u) + ((i >> 3u) & 3u))) & 1u;
  let q = ((w[i >> 3u] >> (4u * (i & 7u))) & 15u) | (high << 4u);
  let sm = unpack2x16float(scales[info]);
  return sm.y + sm.x * f32(q);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * groups.x) * WG + lid;
  if (i >= frame.tokens * params.dim) {
    return;
  }
  let id = ids[i / params.dim];
  if (id < params.first_row || id - params.first_row >= params.rows) {
    return;
  }
  x[i] = weight((id - params.first_row) * params.stride + i % params.dim);
}
