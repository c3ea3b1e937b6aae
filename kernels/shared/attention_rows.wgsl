// shared/attention_rows: what the training attention kernels share: their parameters, the packed
// [q | k | v] rows and each token's row span, a head's vector read as vec4s, and where a query
// head's kv group lies in a row.
// Bindings (group 0):
//   1 params: uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, scale: f32 }
//   2 qkv:    storage, read        array<f32>  [tokens, row]: q [q_heads, head_dim], then k and v
//             [kv_heads, head_dim] each (q and k already rotated)
//   3 spans:  storage, read        array<vec2<u32>>  [tokens] (first, end) of the token's row
// Precision: n/a.

struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, scale: f32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> spans: array<vec2<u32>>;

/** Four floats of qkv from i. */
fn qkv_at(i: u32) -> vec4<f32> {
  return vec4<f32>(qkv[i], qkv[i + 1u], qkv[i + 2u], qkv[i + 3u]);
}

/** Columns of kv group g's k and v heads in a row. */
fn kv_columns(g: u32) -> vec2<u32> {
  let k = (params.q_heads + g) * params.head_dim;
  return vec2<u32>(k, k + params.kv_heads * params.head_dim);
}

/** The kv group of query head h. */
fn group_of(h: u32) -> u32 {
  return h / (params.q_heads / params.kv_heads);
}

/** Invocation i of a kernel run per (token, query head): the token, the head, its k and v columns. */
struct QueryHead {
  t: u32,
  h: u32,
  k_col: u32,
  v_col: u32,
}

fn query_head(i: u32) -> QueryHead {
  let h = i % params.q_heads;
  let cols = kv_columns(group_of(h));
  return QueryHead(i / params.q_heads, h, cols.x, cols.y);
}
