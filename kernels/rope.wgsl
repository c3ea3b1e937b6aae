// rope: rotates the q and k heads of each token's packed [q | k | v] row in place by the token's
// absolute position, HF's rotate-half layout: for each head vector h and pair j < half,
// (h[j], h[j+half]) ← (h[j]·c − h[j+half]·s, h[j+half]·c + h[j]·s) with c, s = cos, sin of
// the token's position (seq) · inv_freq[j], precomputed on the host. q heads come first in the
// row, then k heads. With inverse == 1 it rotates back (s negated): the backward pass of a
// rotation is its inverse, applied to the gradients of q and k.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (per forward)
//   1 params: uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, inverse: u32 }
//   2 cos:    storage, read        array<f32>  [context, head_dim / 2]
//   3 sin:    storage, read        array<f32>  [context, head_dim / 2]
//   4 qkv:    storage, read_write  array<f32>  [tokens, row]: q [q_heads, head_dim], k [kv_heads, head_dim], v
//   5 seq:   storage, read        array<vec2<u32>>  [tokens] (sequence slot, position) per token
// Dispatch: shared/elementwise over tokens · (q_heads + kv_heads) · head_dim / 2 items.
// Precision: f32.

struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, inverse: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(5) var<storage, read> seq: array<vec2<u32>>;

fn items() -> u32 {
  return frame.tokens * (params.q_heads + params.kv_heads) * (params.head_dim / 2u);
}

fn item(i: u32) {
  let half = params.head_dim / 2u;
  let heads = params.q_heads + params.kv_heads;
  let j = i % half;
  let head = (i / half) % heads;
  let t = i / (half * heads);
  let at = seq[t].y * half + j;
  let c = cos_table[at];
  let s = select(sin_table[at], -sin_table[at], params.inverse == 1u);
  // Heads are contiguous in the row: q heads, then k heads.
  let base = t * params.row + head * params.head_dim + j;
  let a = qkv[base];
  let b = qkv[base + half];
  qkv[base] = a * c - b * s;
  qkv[base + half] = b * c + a * s;
}
