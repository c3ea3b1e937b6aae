// kv_write: appends this step's keys and values (from each token's packed [q | k | v] row) to the
// cache of its sequence slot at its position.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (per forward)
//   1 params:  uniform Params { kv_dim: u32, row: u32, k_col: u32, context: u32 }  (v follows k)
//   2 qkv:     storage, read        array<f32>  [tokens, row]
//   3 k_cache: storage, read_write  array<f32>  [slots, context, kv_dim]
//   4 v_cache: storage, read_write  array<f32>  [slots, context, kv_dim]
//   5 seq:    storage, read        array<vec2<u32>>  [tokens] (slot, position) per token
// Dispatch: shared/elementwise over tokens · kv_dim items.
// Precision: exact copy.

struct Params { kv_dim: u32, row: u32, k_col: u32, context: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read> seq: array<vec2<u32>>;

fn items() -> u32 {
  return frame.tokens * params.kv_dim;
}

fn item(i: u32) {
  let t = i / params.kv_dim;
  let m = seq[t];
  let at = (m.x * params.context + m.y) * params.kv_dim + i % params.kv_dim;
  let src = t * params.row + params.k_col + i % params.kv_dim;
  k_cache[at] = qkv[src];
  v_cache[at] = qkv[src + params.kv_dim];
}
