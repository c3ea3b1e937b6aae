// attention_combine: merges attention_decode's per-split partials of each (token, query head):
//   out[t, h, d] = Σ_s exp(m_s − M) · acc_s[d] / Σ_s exp(m_s − M) · l_s,  M = max_s m_s
// over the A = position / split + 1 splits that hold the token's keys.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (per forward: tokens)
//   1 params:  uniform Params { q_heads: u32, head_dim: u32, splits: u32, split: u32 }
//   2 partial: storage, read        array<f32>  [tokens, q_heads, splits, head_dim + 2]: acc, m, l
//   3 out:     storage, read_write  array<f32>  [tokens, q_heads, head_dim]
//   4 seq:    storage, read        array<vec2<u32>>  [tokens] (slot, position) per token
// Dispatch: tokens * q_heads workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32.

struct Params { q_heads: u32, head_dim: u32, splits: u32, split: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> seq: array<vec2<u32>>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let g = workgroup_of(at); // token · q_heads + head
  if (g >= frame.tokens * params.q_heads) {
    return;
  }
  let hd = params.head_dim;
  let row = hd + 2u;
  let base = g * params.splits * row;
  let used = min(params.splits, seq[g / params.q_heads].y / params.split + 1u);
  var big = LOWEST;
  for (var s = 0u; s < used; s++) {
    big = max(big, partial[base + s * row + hd]);
  }
  var total = 0.0;
  for (var s = 0u; s < used; s++) {
    total += exp(partial[base + s * row + hd] - big) * partial[base + s * row + hd + 1u];
  }
  for (var d = lid; d < hd; d += WG) {
    var a = 0.0;
    for (var s = 0u; s < used; s++) {
      a += exp(partial[base + s * row + hd] - big) * partial[base + s * row + d];
    }
    out[g * hd + d] = a / total;
  }
}
