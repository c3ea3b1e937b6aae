// attention_grad_q: the query gradient of attention_train, recomputing each probability from the
// saved log-sum-exp: with p_j = exp(q·k_j · scale − lse), D = Σ_d dout · out (= Σ_j p_j dp_j),
// dp_j = dout · v_j and ds_j = p_j (dp_j − D), dq = scale · Σ_j ds_j k_j. Also stores D for
// attention_grad_kv. One invocation per (token, query head).
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (tokens in the batch)
//   1–3 params, qkv, spans: kernels/shared/attention_rows.wgsl
//   4 out:    storage, read        array<f32>  [tokens, q_heads · head_dim] (attention_train's)
//   5 lse:    storage, read        array<f32>  [tokens, q_heads]
//   6 dout:   storage, read        array<f32>  [tokens, q_heads · head_dim]
//   7 delta:  storage, read_write  array<f32>  [tokens, q_heads]: D
//   8 dqkv:   storage, read_write  array<f32>  [tokens, row]: the q columns are written
// Dispatch: shared/elementwise over tokens · q_heads items; head_dim % 4 == 0, ≤ 128.
// Precision: f32.

@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dqkv: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.q_heads;
}

fn item(i: u32) {
  let at = query_head(i);
  let t = at.t;
  let h = at.h;
  let d4 = params.head_dim / 4u;
  let o = (t * params.q_heads + h) * params.head_dim;
  var q: array<vec4<f32>, 32>;
  var dq: array<vec4<f32>, 32>;
  var go: array<vec4<f32>, 32>;
  var big_d = 0.0;
  for (var d = 0u; d < d4; d++) {
    q[d] = qkv_at(t * params.row + h * params.head_dim + 4u * d) * params.scale;
    let od = 4u * d + o;
    go[d] = vec4<f32>(dout[od], dout[od + 1u], dout[od + 2u], dout[od + 3u]);
    big_d += dot(go[d], vec4<f32>(out[od], out[od + 1u], out[od + 2u], out[od + 3u]));
  }
  let l = lse[t * params.q_heads + h];
  for (var j = spans[t].x; j <= t; j++) {
    var score = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < d4; d++) {
      score += dot(q[d], qkv_at(j * params.row + at.k_col + 4u * d));
      dp += dot(go[d], qkv_at(j * params.row + at.v_col + 4u * d));
    }
    let ds = exp(score - l) * (dp - big_d);
    for (var d = 0u; d < d4; d++) {
      dq[d] += ds * qkv_at(j * params.row + at.k_col + 4u * d);
    }
  }
  delta[t * params.q_heads + h] = big_d;
  for (var d = 0u; d < d4; d++) {
    let at = t * params.row + h * params.head_dim + 4u * d;
    let v = dq[d] * params.scale;
    dqkv[at] = v.x;
    dqkv[at + 1u] = v.y;
    dqkv[at + 2u] = v.z;
    dqkv[at + 3u] = v.w;
  }
}
