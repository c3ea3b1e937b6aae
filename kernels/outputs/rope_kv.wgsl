// outputs/rope_kv: RoPE and the KV-cache write folded into the qkv product's store, so neither
// costs a launch and k, v never pass through the qkv buffer. The matrix's rows are q heads, k
// heads, v heads, each q and k head's rows j and j + head_dim/2 (the pair RoPE rotates together)
// taken in turn 4 at a time: an 8-row unit of a head holds dims d..d+3 (lo) and half+d..half+d+3
// (hi), d = 4u, which it rotates by the token's position p as HF's rotate-half does —
// (a, b) ← (a·c − b·s, b·c + a·s), c, s = cos, sin of p · inv_freq[d + i] from the host's tables —
// storing q in place (y, in natural order) and k in the cache of the token's sequence slot at p.
// v units (in order) go to the v cache unrotated. head_dim % 8 == 0; accumulate must be 0.
// Contract: see outputs/plain.wgsl; here every part's first_row is a multiple of 8.
// Bindings (group 0):
//   7 rope:    uniform Rope { q_heads: u32, kv_heads: u32, head_dim: u32, context: u32 }
//   8 cos:     storage, read        array<f32>  [context, head_dim / 2]
//   9 sin:     storage, read        array<f32>  [context, head_dim / 2]
//  10 seq:     storage, read        array<vec2<u32>>  [tokens] (sequence slot, position) per token
//  11 k_cache: storage, read_write  array<f32>  [slots, context, kv_heads · head_dim]
//  12 v_cache: storage, read_write  array<f32>  [slots, context, kv_heads · head_dim]
// Precision: f32 (the rotation, as rope_kv_write); exact copies.

struct Rope { q_heads: u32, kv_heads: u32, head_dim: u32, context: u32 }

@group(0) @binding(7) var<uniform> rope: Rope;
@group(0) @binding(8) var<storage, read> cos_table: array<f32>;
@group(0) @binding(9) var<storage, read> sin_table: array<f32>;
@group(0) @binding(10) var<storage, read> seq: array<vec2<u32>>;
@group(0) @binding(11) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(12) var<storage, read_write> v_cache: array<f32>;

fn store_unit(t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>, n: u32) {
  let row = params.first_row + r0; // of the whole matrix
  let q_rows = rope.q_heads * rope.head_dim;
  let kv_dim = rope.kv_heads * rope.head_dim;
  let m = seq[t];
  let cache = (m.x * rope.context + m.y) * kv_dim; // the token's cache row
  if (row >= q_rows + kv_dim) {
    let v = cache + row - q_rows - kv_dim;
    for (var j = 0u; j < 4u; j++) {
      v_cache[v + j] = lo[j];
      v_cache[v + 4u + j] = hi[j];
    }
    return;
  }
  let half = rope.head_dim / 2u;
  let in_head = row % rope.head_dim;
  let d = in_head / 2u; // this unit's first dim
  let at = m.y * half + d;
  let c = vec4<f32>(cos_table[at], cos_table[at + 1u], cos_table[at + 2u], cos_table[at + 3u]);
  let s = vec4<f32>(sin_table[at], sin_table[at + 1u], sin_table[at + 2u], sin_table[at + 3u]);
  let a = lo * c - hi * s;
  let b = hi * c + lo * s;
  let head_start = row - in_head;
  for (var i = 0u; i < 4u; i++) {
    if (row < q_rows) {
      let o = t * params.y_stride + head_start + d + i;
      y[o] = a[i];
      y[o + half] = b[i];
    } else {
      let o = cache + head_start - q_rows + d + i;
      k_cache[o] = a[i];
      k_cache[o + half] = b[i];
    }
  }
}
