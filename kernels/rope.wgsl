// rope: rotates q and k in place by their absolute positions, HF's rotate-half layout: for each
// head vector v and pair j < half, (v[j], v[j+half]) ← (v[j]·c − v[j+half]·s, v[j+half]·c + v[j]·s)
// with c, s = cos, sin of (start + t) · inv_freq[j], precomputed on the host.
// Bindings (group 0):
//   0 frame:  uniform Frame  { start: u32, tokens: u32 }       (per forward)
//   1 params: uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32 }
//   2 cos:    storage, read        array<f32>  [context, head_dim / 2]
//   3 sin:    storage, read        array<f32>  [context, head_dim / 2]
//   4 q:      storage, read_write  array<f32>  [tokens, q_heads, head_dim]
//   5 k:      storage, read_write  array<f32>  [tokens, kv_heads, head_dim]
// Dispatch: ceil(tokens * (q_heads + kv_heads) * head_dim / 2 / WG) workgroups, folded into (x, y)
// with x ≤ 65535; WG threads each.
// Precision: f32.

struct Frame { start: u32, tokens: u32 }
struct Params { q_heads: u32, kv_heads: u32, head_dim: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> k: array<f32>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let half = params.head_dim / 2u;
  let heads = params.q_heads + params.kv_heads;
  let i = (wid.x + wid.y * groups.x) * WG + lid;
  if (i >= frame.tokens * heads * half) {
    return;
  }
  let j = i % half;
  let head = (i / half) % heads;
  let t = i / (half * heads);
  let at = (frame.start + t) * half + j;
  let c = cos_table[at];
  let s = sin_table[at];
  if (head < params.q_heads) {
    let base = (t * params.q_heads + head) * params.head_dim + j;
    let a = q[base];
    let b = q[base + half];
    q[base] = a * c - b * s;
    q[base + half] = b * c + a * s;
  } else {
    let base = (t * params.kv_heads + head - params.q_heads) * params.head_dim + j;
    let a = k[base];
    let b = k[base + half];
    k[base] = a * c - b * s;
    k[base + half] = b * c + a * s;
  }
}
