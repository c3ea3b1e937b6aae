// attention_decode: flash-decoding for one new token: the cache is cut into splits of `split` keys
// (≤ 1024; chosen per adapter) and one workgroup handles one (query head, split), so long contexts
// keep every core busy.
// Each writes its unnormalised partial result for attention_combine:
//   m = max_j s_j,  l = Σ_j exp(s_j − m),  acc[d] = Σ_j exp(s_j − m) · V[j, g, d]
// over keys j of the split with j ≤ start (s_j = q·K[j, g] · scale, g = h / (q_heads / kv_heads)).
// Keys and values are read as vec4 (head_dim % 4 == 0).
// Bindings (group 0):
//   0 frame:    uniform Frame  { start: u32, tokens: u32 }     (per forward; tokens must be 1)
//   1 params:   uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, splits: u32,
//                                split: u32 }  (splits = the capacity: ceil(context / split))
//   2 q:        storage, read        array<vec4<f32>>  [1, ≥ q_heads · head_dim / 4]: q heads first
//   3 k_cache:  storage, read        array<vec4<f32>>  [context, kv_heads, head_dim / 4]
//   4 v_cache:  storage, read        array<vec4<f32>>  [context, kv_heads, head_dim / 4]
//   5 partial:  storage, read_write  array<f32>  [q_heads, splits, head_dim + 2]: acc[0..hd), m, l
// Only the A = start / split + 1 splits that hold keys are launched (A ≤ splits).
// Dispatch: q_heads * A workgroups (split fastest), folded into (x, y) with x ≤ 65535; WG
// threads each (override WG, a power of two ≤ 256). head_dim ≤ 256, a multiple of 4.
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
var<workgroup> q_scaled: array<vec4<f32>, 64>;
var<workgroup> p: array<f32, 1024>; // scores, then exp(score − m), of the split's keys

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.x + wid.y * groups.x;
  let used = min(params.splits, frame.start / params.split + 1u);
  if (g >= params.q_heads * used) {
    return;
  }
  let h = g / used;
  let split = g % used;
  let hd = params.head_dim;
  let out = (h * params.splits + split) * (hd + 2u);
  let first = split * params.split;
  let last = frame.start; // the newest key (this token's own)
  if (first > last) {
    if (lid == 0u) {
      partial[out + hd] = LOWEST;
      partial[out + hd + 1u] = 0.0;
    }
    return;
  }
  let n = min(params.split, last + 1u - first);
  let hd4 = hd / 4u;
  let kv_stride = params.kv_heads * hd4;
  let kv_off = (h / (params.q_heads / params.kv_heads)) * hd4;
  for (var d = lid; d < hd4; d += WG) {
    q_scaled[d] = q[h * hd4 + d] * params.scale;
  }
  workgroupBarrier();
  for (var i = lid; i < n; i += WG) {
    let row = (first + i) * kv_stride + kv_off;
    var s = 0.0;
    for (var d = 0u; d < hd4; d++) {
      s += dot(q_scaled[d], k_cache[row + d]);
    }
    p[i] = s;
  }
  workgroupBarrier();
  var m = LOWEST;
  for (var i = 0u; i < n; i++) {
    m = max(m, p[i]);
  }
  workgroupBarrier();
  for (var i = lid; i < n; i += WG) {
    p[i] = exp(p[i] - m);
  }
  workgroupBarrier();
  for (var d = lid; d < hd4; d += WG) {
    var a = vec4<f32>(0.0);
    for (var i = 0u; i < n; i++) {
      a += p[i] * v_cache[(first + i) * kv_stride + kv_off + d];
    }
    partial[out + 4u * d] = a.x;
    partial[out + 4u * d + 1u] = a.y;
    partial[out + 4u * d + 2u] = a.z;
    partial[out + 4u * d + 3u] = a.w;
  }
  if (lid == 0u) {
    var l = 0.0;
    for (var i = 0u; i < n; i++) {
      l += p[i];
    }
    partial[out + hd] = m;
    partial[out + hd + 1u] = l;
  }
}
