// attention_grad_kv: the key and value gradients of attention_train. For key/value token j of kv
// head g, over the later tokens t of its row (j ≤ t < spans[j].y) and the query heads h of the
// group: p = exp(q_th·k_j · scale − lse[t, h]), dv_j += p dout[t, h],
// dk_j += scale · p (dout[t, h]·v_j − D[t, h]) q_th, with D from attention_grad_q. One invocation
// per (token, kv head).
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (tokens in the batch)
//   1–3 params, qkv, spans: kernels/shared/attention_rows.wgsl
//   4 lse:    storage, read        array<f32>  [tokens, q_heads]
//   5 dout:   storage, read        array<f32>  [tokens, q_heads · head_dim]
//   6 delta:  storage, read        array<f32>  [tokens, q_heads]
//   7 dqkv:   storage, read_write  array<f32>  [tokens, row]: the k and v columns are written
// Dispatch: shared/elementwise over tokens · kv_heads items; head_dim % 4 == 0, ≤ 128.
// Precision: f32.

@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.kv_heads;
}

fn item(i: u32) {
  let j = i / params.kv_heads;
  let g = i % params.kv_heads;
  let d4 = params.head_dim / 4u;
  let group = params.q_heads / params.kv_heads;
  let cols = kv_columns(g);
  let k_at = j * params.row + cols.x;
  let v_at = j * params.row + cols.y;
  var k: array<vec4<f32>, 32>;
  var v: array<vec4<f32>, 32>;
  var dk: array<vec4<f32>, 32>;
  var dv: array<vec4<f32>, 32>;
  for (var d = 0u; d < d4; d++) {
    k[d] = qkv_at(k_at + 4u * d) * params.scale;
    v[d] = qkv_at(v_at + 4u * d);
  }
  for (var t = j; t < spans[j].y; t++) {
    for (var h = g * group; h < (g + 1u) * group; h++) {
      let q_at = t * params.row + h * params.head_dim;
      let o = (t * params.q_heads + h) * params.head_dim;
      var score = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < d4; d++) {
        score += dot(k[d], qkv_at(q_at + 4u * d));
        let od = o + 4u * d;
        dp += dot(v[d], vec4<f32>(dout[od], dout[od + 1u], dout[od + 2u], dout[od + 3u]));
      }
      let p = exp(score - lse[t * params.q_heads + h]);
      let ds = p * (dp - delta[t * params.q_heads + h]) * params.scale;
      for (var d = 0u; d < d4; d++) {
        let od = o + 4u * d;
        dv[d] += p * vec4<f32>(dout[od], dout[od + 1u], dout[od + 2u], dout[od + 3u]);
        dk[d] += ds * qkv_at(q_at + 4u * d);
      }
    }
  }
  for (var d = 0u; d < d4; d++) {
    for (var e = 0u; e < 4u; e++) {
      dqkv[k_at + 4u * d + e] = dk[d][e];
      dqkv[v_at + 4u * d + e] = dv[d][e];
    }
  }
}
