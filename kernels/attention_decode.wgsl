// attention_decode: flash-decoding for one new token. The cache is cut into splits of `split` keys
// and one workgroup handles one (kv head, split) for all G = q_heads / kv_heads query heads that
// share it, so each cached key and value is read once per group and long contexts keep every core
// busy. For each of those query heads h it writes an unnormalised partial for attention_combine:
//   m = max_j s_j,  l = Σ_j exp(s_j − m),  acc[d] = Σ_j exp(s_j − m) · V[j, g, d]
// over keys j of the split with j ≤ start, s_j = q[h]·K[j, g] · scale. Keys, values and q are read
// as vec4 (head_dim % 4 == 0). Only the A = start / split + 1 splits that hold keys are launched.
// Bindings (group 0):
//   0 frame:    uniform Frame  { start: u32, tokens: u32 }     (per forward; tokens must be 1)
//   1 params:   uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, splits: u32,
//                                split: u32 }  (splits = ceil(context / split); G · split ≤ 2048, G ≤ 8,
//                                G · head_dim ≤ 1024: 12 KiB of workgroup memory in all)
//   2 q:        storage, read        array<vec4<f32>>  [1, ≥ q_heads · head_dim / 4]: q heads first
//   3 k_cache:  storage, read        array<vec4<f32>>  [context, kv_heads, head_dim / 4]
//   4 v_cache:  storage, read        array<vec4<f32>>  [context, kv_heads, head_dim / 4]
//   5 partial:  storage, read_write  array<f32>  [q_heads, splits, head_dim + 2]: acc[0..hd), m, l
// Dispatch: kv_heads * A workgroups (split fastest), folded into (x, y) with x ≤ 65535; WG threads
// each (override WG, a power of two ≤ 256). head_dim ≤ 256.
// Precision: f32 scores, exponentials and sums.

struct Frame { start: u32, tokens: u32 }
struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, splits: u32, split: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;

override WG: u32 = 64u;
const LOWEST: f32 = -3.402823e38;
const MAX_GROUP: u32 = 8u;
var<workgroup> q_scaled: array<vec4<f32>, 256>; // [G, head_dim / 4], G · head_dim ≤ 1024
var<workgroup> p: array<f32, 2048>; // [G, split]: scores, then exp(score − m)
var<workgroup> m_of: array<f32, 8>; // per query head of the group

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.x + wid.y * groups.x;
  let used = min(params.splits, frame.start / params.split + 1u);
  if (g >= params.kv_heads * used) {
    return;
  }
  let kvh = g / used;
  let split = g % used;
  let group = params.q_heads / params.kv_heads;
  let h0 = kvh * group; // first query head of the group
  let hd = params.head_dim;
  let hd4 = hd / 4u;
  let first = split * params.split;
  let n = min(params.split, frame.start + 1u - first);
  let kv_stride = params.kv_heads * hd4;
  let kv_off = kvh * hd4;
  for (var e = lid; e < group * hd4; e += WG) {
    q_scaled[e] = q[h0 * hd4 + e] * params.scale;
  }
  workgroupBarrier();
  for (var i = lid; i < n; i += WG) {
    let row = (first + i) * kv_stride + kv_off;
    var s = array<f32, 8>();
    for (var d = 0u; d < hd4; d++) {
      let k = k_cache[row + d];
      for (var j = 0u; j < group; j++) {
        s[j] += dot(q_scaled[j * hd4 + d], k);
      }
    }
    for (var j = 0u; j < group; j++) {
      p[j * params.split + i] = s[j];
    }
  }
  workgroupBarrier();
  for (var j = lid; j < group; j += WG) {
    var m = LOWEST;
    for (var i = 0u; i < n; i++) {
      m = max(m, p[j * params.split + i]);
    }
    m_of[j] = m;
  }
  workgroupBarrier();
  for (var i = lid; i < n; i += WG) {
    for (var j = 0u; j < group; j++) {
      p[j * params.split + i] = exp(p[j * params.split + i] - m_of[j]);
    }
  }
  workgroupBarrier();
  for (var d = lid; d < hd4; d += WG) {
    var acc = array<vec4<f32>, 8>();
    for (var i = 0u; i < n; i++) {
      let v = v_cache[(first + i) * kv_stride + kv_off + d];
      for (var j = 0u; j < group; j++) {
        acc[j] += p[j * params.split + i] * v;
      }
    }
    for (var j = 0u; j < group; j++) {
      let out = ((h0 + j) * params.splits + split) * (hd + 2u) + 4u * d;
      partial[out] = acc[j].x;
      partial[out + 1u] = acc[j].y;
      partial[out + 2u] = acc[j].z;
      partial[out + 3u] = acc[j].w;
    }
  }
  for (var j = lid; j < group; j += WG) {
    var l = 0.0;
    for (var i = 0u; i < n; i++) {
      l += p[j * params.split + i];
    }
    let out = ((h0 + j) * params.splits + split) * (hd + 2u) + hd;
    partial[out] = m_of[j];
    partial[out + 1u] = l;
  }
}
