// attention_decode: flash-decoding for a few tokens (one per sequence when decoding a batch). Each
// token's cache (its slot) is cut into splits of `split` keys and one workgroup handles one
// (token, kv head, split) for all G = q_heads / kv_heads query heads that
// share it, so each cached key and value is read once per group and long contexts keep every core
// busy. For each of those query heads h it writes an unnormalised partial for attention_combine:
//   m = max_j s_j,  l = Σ_j exp(s_j − m),  acc[d] = Σ_j exp(s_j − m) · V[j, g, d]
// over keys j of the split with j ≤ the token's position, s_j = q[h]·K[j, g] · scale. Keys, values
// and q are read as vec4 (head_dim % 4 == 0). Splits past a token's position return at once.
// Every pass over the split's keys is shared by the threads: the max and the sum by WG / G
// threads per head, acc by WG / (head_dim / 4) threads per column where head_dim is narrow (their
// sums meet in workgroup memory), so no thread walks a long split alone.
// With the FINAL override (every token's keys in one split) it writes acc / l, the attention
// output itself, to binding 5, and no attention_combine launch follows.
// Bindings (group 0):
//   0 frame:    the prelude's { tokens }  (per forward; unused)
//   1 params:   uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, splits: u32,
//                                split: u32, q_row: u32, context: u32 }  (splits = ceil(context / split);
//                                G · split ≤ 2048, G ≤ 8, G · head_dim ≤ 1024: 12 KiB of workgroup memory)
//   2 q:        storage, read        array<vec4<f32>>  [tokens, q_row / 4]: q heads first in each row
//   3 k_cache:  storage, read        array<vec4<f32>>  [slots, context, kv_heads, head_dim / 4]
//   4 v_cache:  storage, read        array<vec4<f32>>  [slots, context, kv_heads, head_dim / 4]
//   5 partial:  storage, read_write  array<f32>  [tokens, q_heads, splits, head_dim + 2]: acc, m, l
//               (FINAL: the output [tokens, q_heads, head_dim])
//   6 seq:     storage, read        array<vec2<u32>>  [tokens] (slot, position) per token
// Dispatch: (kv_heads * A, tokens) workgroups, A = the most splits any token uses (split fastest);
// WG threads each (override WG, a power of two ≤ 256); override GROUP = q_heads / kv_heads (a
// constant, so the per-head loops unroll and their sums stay in registers). head_dim ≤ 256.
// Precision: f32 scores, exponentials and sums.

struct Params {
  q_heads: u32,
  kv_heads: u32,
  head_dim: u32,
  scale: f32,
  splits: u32,
  split: u32,
  q_row: u32,
  context: u32,
}

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
@group(0) @binding(6) var<storage, read> seq: array<vec2<u32>>;

override GROUP: u32 = 1u; // q_heads / kv_heads, fixed per pipeline so the per-head loops unroll
const MAX_GROUP: u32 = 8u;
var<workgroup> q_scaled: array<vec4<f32>, 256>; // [G, head_dim / 4], G · head_dim ≤ 1024
var<workgroup> p: array<f32, 2048>; // [G, split]: scores, then exp(score − m)
var<workgroup> m_of: array<f32, 8>; // per query head of the group
var<workgroup> l_of: array<f32, 8>; // per query head of the group
var<workgroup> red: array<f32, 256>; // [G, WG / G]: per-thread maxima, then sums
/** When every token's keys fit one split: write the normalised output, no combine to follow. */
override FINAL: bool = false;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let r = at.wid.y; // the token
  let launched = at.groups.x / params.kv_heads; // splits per kv head in this dispatch
  let kvh = at.wid.x / launched;
  let split = at.wid.x % launched;
  let position = seq[r].y;
  if (split > position / params.split) {
    return; // this token's keys end before the split
  }
  let slot_row = seq[r].x * params.context;
  let group = GROUP;
  let h0 = kvh * group; // first query head of the group
  let hd = params.head_dim;
  let hd4 = hd / 4u;
  let first = split * params.split;
  let n = min(params.split, position + 1u - first);
  let kv_stride = params.kv_heads * hd4;
  let kv_off = kvh * hd4;
  for (var e = lid; e < group * hd4; e += WG) {
    q_scaled[e] = q[r * (params.q_row / 4u) + h0 * hd4 + e] * params.scale;
  }
  workgroupBarrier();
  for (var i = lid; i < n; i += WG) {
    let row = (slot_row + first + i) * kv_stride + kv_off;
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
  // Each head's max over the split: `lanes` threads per head each take every lanes-th key, then
  // the head's first thread reduces their `lanes` values (no key is walked by one thread alone).
  let lanes = max(1u, WG / group);
  for (var e = lid; e < group * lanes; e += WG) {
    let j = e / lanes;
    var m = LOWEST;
    for (var i = e % lanes; i < n; i += lanes) {
      m = max(m, p[j * params.split + i]);
    }
    red[e] = m;
  }
  workgroupBarrier();
  for (var j = lid; j < group; j += WG) {
    var m = LOWEST;
    for (var t = 0u; t < lanes; t++) {
      m = max(m, red[j * lanes + t]);
    }
    m_of[j] = m;
  }
  workgroupBarrier();
  for (var e = lid; e < group * lanes; e += WG) {
    let j = e / lanes;
    var l = 0.0;
    for (var i = e % lanes; i < n; i += lanes) {
      let x = exp(p[j * params.split + i] - m_of[j]);
      p[j * params.split + i] = x;
      l += x;
    }
    red[e] = l;
  }
  workgroupBarrier();
  for (var j = lid; j < group; j += WG) {
    var l = 0.0;
    for (var t = 0u; t < lanes; t++) {
      l += red[j * lanes + t];
    }
    l_of[j] = l;
    if (!FINAL) {
      let out = ((r * params.q_heads + h0 + j) * params.splits + split) * (hd + 2u) + hd;
      partial[out] = m_of[j];
      partial[out + 1u] = l;
    }
  }
  workgroupBarrier();
  // acc[j][d] = Σ_i p[j][i] · V[i, d]. Where head_dim / 4 < WG, `key_lanes` threads share each d,
  // each taking every key_lanes-th key; lanes past the first leave their sums in p (free by then)
  // for the first to add.
  let key_lanes = max(1u, min(WG / hd4, 1u + 512u / (group * hd4)));
  let d0 = lid % hd4;
  let kl = lid / hd4;
  if (key_lanes == 1u) {
    for (var d = lid; d < hd4; d += WG) {
      var acc = array<vec4<f32>, 8>();
      for (var i = 0u; i < n; i++) {
        let v = v_cache[(slot_row + first + i) * kv_stride + kv_off + d];
        for (var j = 0u; j < group; j++) {
          acc[j] += p[j * params.split + i] * v;
        }
      }
      store_acc(r, h0, split, d, acc);
    }
    return;
  }
  var acc = array<vec4<f32>, 8>();
  if (kl < key_lanes) {
    for (var i = kl; i < n; i += key_lanes) {
      let v = v_cache[(slot_row + first + i) * kv_stride + kv_off + d0];
      for (var j = 0u; j < group; j++) {
        acc[j] += p[j * params.split + i] * v;
      }
    }
  }
  workgroupBarrier();
  if (kl > 0u && kl < key_lanes) {
    for (var j = 0u; j < group; j++) {
      let at4 = 4u * (((kl - 1u) * group + j) * hd4 + d0);
      p[at4] = acc[j].x;
      p[at4 + 1u] = acc[j].y;
      p[at4 + 2u] = acc[j].z;
      p[at4 + 3u] = acc[j].w;
    }
  }
  workgroupBarrier();
  if (kl == 0u) {
    for (var t = 1u; t < key_lanes; t++) {
      for (var j = 0u; j < group; j++) {
        let at4 = 4u * (((t - 1u) * group + j) * hd4 + d0);
        acc[j] += vec4(p[at4], p[at4 + 1u], p[at4 + 2u], p[at4 + 3u]);
      }
    }
    store_acc(r, h0, split, d0, acc);
  }
}

/** Writes the group's acc[j] (columns 4d..4d+3): a split's partial, or with FINAL acc / l itself. */
fn store_acc(r: u32, h0: u32, split: u32, d: u32, acc: array<vec4<f32>, 8>) {
  let hd = params.head_dim;
  for (var j = 0u; j < GROUP; j++) {
    // FINAL: the attention output [tokens, q_heads, head_dim] (as attention_combine of one split).
    let out = select(((r * params.q_heads + h0 + j) * params.splits + split) * (hd + 2u) + 4u * d,
                     (r * params.q_heads + h0 + j) * hd + 4u * d, FINAL);
    let v = select(acc[j], acc[j] / l_of[j], FINAL);
    partial[out] = v.x;
    partial[out + 1u] = v.y;
    partial[out + 2u] = v.z;
    partial[out + 3u] = v.w;
  }
}
