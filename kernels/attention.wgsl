// attention: causal grouped-query attention of each new token over the cache, one workgroup per
// (token, query head). Keys are visited in tiles of WG with an online softmax (running max m,
// running sum l, rescaled accumulator), so no score row longer than one tile is ever stored:
//   out[t, h] = Σ_{j ≤ p_t} softmax_j(q[t,h]·K[s_t, j, g] · scale) · V[s_t, j, g],  g = h / (q_heads / kv_heads)
// where (s_t, p_t) = seq[t], the token's sequence slot and position.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (per forward)
//   1 params:  uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, q_row: u32,
//                               context: u32 }
//   2 q:       storage, read        array<f32>  [tokens, q_row]: q heads at the start of each row
//   3 k_cache: storage, read        array<f32>  [slots, context, kv_heads, head_dim]
//   4 v_cache: storage, read        array<f32>  [slots, context, kv_heads, head_dim]
//   5 out:     storage, read_write  array<f32>  [tokens, q_heads, head_dim]
//   6 seq:    storage, read        array<vec2<u32>>  [tokens] (slot, position): keys 0..position of the slot
// Dispatch: tokens * q_heads workgroups, folded into (x, y) with x ≤ 65535; WG threads each
// (override WG, a power of two ≤ 256). head_dim ≤ 256.
// Precision: f32 scores, softmax and accumulation (HF upcasts softmax to float32).

struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, q_row: u32, context: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> seq: array<vec2<u32>>;

var<workgroup> q_scaled: array<f32, 256>;
var<workgroup> acc: array<f32, 256>;
var<workgroup> tile: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let g = workgroup_of(at);
  if (g >= frame.tokens * params.q_heads) {
    return;
  }
  let hd = params.head_dim;
  let t = g / params.q_heads;
  let h = g % params.q_heads;
  let kv_off = (h / (params.q_heads / params.kv_heads)) * hd;
  let kv_stride = params.kv_heads * hd;
  let q_off = t * params.q_row + h * hd;
  for (var d = lid; d < hd; d += WG) {
    q_scaled[d] = q[q_off + d] * params.scale;
    acc[d] = 0.0;
  }
  workgroupBarrier();
  let last = seq[t].y; // the newest key this token may see (its own)
  let slot_row = seq[t].x * params.context; // first cache row of its sequence
  var m = LOWEST;
  var l = 0.0;
  for (var j0 = 0u; j0 <= last; j0 += WG) {
    let j = j0 + lid;
    var s = LOWEST;
    if (j <= last) {
      s = 0.0;
      for (var d = 0u; d < hd; d++) {
        s += q_scaled[d] * k_cache[(slot_row + j) * kv_stride + kv_off + d];
      }
    }
    tile[lid] = s;
    workgroupBarrier();
    var m_new = m;
    for (var i = 0u; i < WG; i++) {
      m_new = max(m_new, tile[i]);
    }
    workgroupBarrier();
    tile[lid] = select(0.0, exp(s - m_new), j <= last);
    workgroupBarrier();
    let n = min(WG, last + 1u - j0);
    var p_sum = 0.0;
    for (var i = 0u; i < n; i++) {
      p_sum += tile[i];
    }
    let correction = exp(m - m_new);
    l = l * correction + p_sum;
    m = m_new;
    for (var d = lid; d < hd; d += WG) {
      var a = acc[d] * correction;
      for (var i = 0u; i < n; i++) {
        a += tile[i] * v_cache[(slot_row + j0 + i) * kv_stride + kv_off + d];
      }
      acc[d] = a;
    }
    workgroupBarrier();
  }
  for (var d = lid; d < hd; d += WG) {
    out[g * hd + d] = acc[d] / l;
  }
}
