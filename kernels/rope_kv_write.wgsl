// rope_kv_write: what comes between the qkv projection and attention, in one launch: rotates each
// token's q heads in place by its absolute position (HF's rotate-half layout, as rope.wgsl), and
// writes its k heads, rotated the same way, and its v to the KV cache of its sequence slot at its
// position. For each head vector h and pair j < half: (h[j], h[j+half]) ← (h[j]·c − h[j+half]·s,
// h[j+half]·c + h[j]·s), c, s = cos, sin of position · inv_freq[j] from the host's tables.
// Attention reads q from qkv and k, v from the caches (k in qkv is left unrotated).
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (per forward)
//   1 params:  uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, context: u32 }
//   2 cos:     storage, read        array<f32>  [context, head_dim / 2]
//   3 sin:     storage, read        array<f32>  [context, head_dim / 2]
//   4 qkv:     storage, read_write  array<f32>  [tokens, row]: q [q_heads, head_dim], k [kv_heads, head_dim], v
//   5 seq:     storage, read        array<vec2<u32>>  [tokens] (sequence slot, position) per token
//   6 k_cache: storage, read_write  array<f32>  [slots, context, kv_heads · head_dim]
//   7 v_cache: storage, read_write  array<f32>  [slots, context, kv_heads · head_dim]
// Dispatch: shared/elementwise over tokens · (q_heads + 2 · kv_heads) · head_dim / 2 items (a
// pair of a q or k head to rotate, or of a v head to copy).
// Precision: f32 (the rotation); exact copies.

struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, context: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(5) var<storage, read> seq: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<f32>;

fn items() -> u32 {
  return frame.tokens * (params.q_heads + 2u * params.kv_heads) * (params.head_dim / 2u);
}

fn item(i: u32) {
  let half = params.head_dim / 2u;
  let per_token = (params.q_heads + 2u * params.kv_heads) * half;
  let t = i / per_token;
  let r = i % per_token;
  let head = r / half; // q heads, then k heads, then v heads, as in the row
  let j = r % half;
  let m = seq[t];
  let src = t * params.row + head * params.head_dim + j;
  let kv_dim = params.kv_heads * params.head_dim;
  let cache = (m.x * params.context + m.y) * kv_dim + (head - params.q_heads) * params.head_dim + j;
  if (head >= params.q_heads + params.kv_heads) {
    let v = cache - kv_dim; // v heads follow k heads in the row, not in the cache
    v_cache[v] = qkv[src];
    v_cache[v + half] = qkv[src + half];
    return;
  }
  let at = m.y * half + j;
  let c = cos_table[at];
  let s = sin_table[at];
  let a = qkv[src];
  let b = qkv[src + half];
  let x = a * c - b * s;
  let y = b * c + a * s;
  if (head < params.q_heads) {
    qkv[src] = x;
    qkv[src + half] = y;
  } else {
    k_cache[cache] = x;
    k_cache[cache + half] = y;
  }
}
