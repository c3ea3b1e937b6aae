// attention_train: causal grouped-query attention over a training batch, keeping what the
// backward pass needs. Tokens are packed row after row (each batch row's kept tokens in order);
// token t attends to the tokens spans[t].x ..= t of its row. One invocation per (token, query
// head) walks its keys with an online softmax: out[t, h] = Σ_j softmax_j(q·k_j · scale) v_j, and
// lse[t, h] = log Σ_j exp(q·k_j · scale), from which the backward kernels recompute every
// probability instead of storing them.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (tokens in the batch)
//   1–3 params, qkv, spans: kernels/shared/attention_rows.wgsl
//   4 out:    storage, read_write  array<f32>  [tokens, q_heads · head_dim]
//   5 lse:    storage, read_write  array<f32>  [tokens, q_heads]
// Dispatch: shared/elementwise over tokens · q_heads items; head_dim % 4 == 0, ≤ 128.
// Precision: f32; the running sum is rescaled at each new maximum.

@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.q_heads;
}

fn item(i: u32) {
  let at = query_head(i);
  let t = at.t;
  let h = at.h;
  let d4 = params.head_dim / 4u;
  var q: array<vec4<f32>, 32>;
  var acc: array<vec4<f32>, 32>;
  for (var d = 0u; d < d4; d++) {
    q[d] = qkv_at(t * params.row + h * params.head_dim + 4u * d) * params.scale;
  }
  var m = LOWEST;
  var s = 0.0;
  for (var j = spans[t].x; j <= t; j++) {
    var score = 0.0;
    for (var d = 0u; d < d4; d++) {
      score += dot(q[d], qkv_at(j * params.row + at.k_col + 4u * d));
    }
    let top = max(m, score);
    let rescale = exp(m - top);
    let p = exp(score - top);
    s = s * rescale + p;
    for (var d = 0u; d < d4; d++) {
      acc[d] = acc[d] * rescale + p * qkv_at(j * params.row + at.v_col + 4u * d);
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
