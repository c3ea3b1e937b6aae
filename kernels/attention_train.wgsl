// attention_train: causal grouped-query attention over a training batch, keeping what the
// backward pass needs. Tokens are packed row after row (each batch row's kept tokens in order);
// token t attends to the tokens spans[t].x ..= t of its row. One invocation per (token, query
// head) walks its keys with an online softmax: out[t, h] = Σ_j softmax_j(q·k_j · scale) v_j, and
// lse[t, h] = log Σ_j exp(q·k_j · scale), from which the backward kernels recompute every
// probability instead of storing them.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (tokens in the batch)
//   1 params: uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, scale: f32 }
//   2 qkv:    storage, read        array<f32>  [tokens, row]: q [q_heads, head_dim], then k and v
//             [kv_heads, head_dim] each (q and k already rotated)
//   3 spans:  storage, read        array<vec2<u32>>  [tokens] (first, end) of the token's row
//   4 out:    storage, read_write  array<f32>  [tokens, q_heads · head_dim]
//   5 lse:    storage, read_write  array<f32>  [tokens, q_heads]
// Dispatch: shared/elementwise over tokens · q_heads items; head_dim % 4 == 0, ≤ 128.
// Precision: f32; the running sum is rescaled at each new maximum.

struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, row: u32, scale: f32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> spans: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.q_heads;
}

fn item(i: u32) {
  let t = i / params.q_heads;
  let h = i % params.q_heads;
  let d4 = params.head_dim / 4u;
  let g = h / (params.q_heads / params.kv_heads);
  let k_col = (params.q_heads + g) * params.head_dim;
  let v_col = (params.q_heads + params.kv_heads + g) * params.head_dim;
  var q: array<vec4<f32>, 32>;
  var acc: array<vec4<f32>, 32>;
  for (var d = 0u; d < d4; d++) {
    q[d] = vec4_at(t * params.row + h * params.head_dim + 4u * d) * params.scale;
  }
  var m = LOWEST;
  var s = 0.0;
  for (var j = spans[t].x; j <= t; j++) {
    var score = 0.0;
    for (var d = 0u; d < d4; d++) {
      score += dot(q[d], vec4_at(j * params.row + k_col + 4u * d));
    }
    let top = max(m, score);
    let rescale = exp(m - top);
    let p = exp(score - top);
    s = s * rescale + p;
    for (var d = 0u; d < d4; d++) {
      acc[d] = acc[d] * rescale + p * vec4_at(j * params.row + v_col + 4u * d);
    }
    m = top;
  }
  for (var d = 0u; d < d4; d++) {
    let o = (t * params.q_heads + h) * params.head_dim + 4u * d;
    let v = acc[d] / s;
    out[o] = v.x;
    out[o + 1u] = v.y;
    out[o + 2u] = v.z;
    out[o + 3u] = v.w;
  }
  lse[t * params.q_heads + h] = m + log(s);
}

fn vec4_at(i: u32) -> vec4<f32> {
  return vec4<f32>(qkv[i], qkv[i + 1u], qkv[i + 2u], qkv[i + 3u]);
}
