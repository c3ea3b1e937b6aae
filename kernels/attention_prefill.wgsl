// attention_prefill: causal grouped-query attention for a prompt chunk (many tokens of one
// sequence), flash-attention style: a workgroup takes BQ = WG / GROUP consecutive tokens and one
// kv head, a thread per (token, query head of the group); keys and values are staged through
// workgroup memory a tile of TILE keys at a time and serve every row of the workgroup, tiles past
// the block's last position are never read, and each row keeps an online softmax (running max m,
// sum l, rescaled accumulator; the scores of a tile are held in registers, so the accumulator is
// rescaled once per tile):
//   out[t, h] = Σ_{j ≤ p_t} softmax_j(q[t,h]·K[s, j, g] · scale) · V[s, j, g],  g = h / GROUP
// where p_t is the token's position and s the slot of the block's first token (a chunk is one
// sequence's). Positions grow with t within a chunk.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }
//   1 params:  uniform Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, q_row: u32,
//                               context: u32 }
//   2 q:       storage, read        array<vec4<f32>>  [tokens, q_row / 4]: q heads at the start of each row
//   3 k_cache: storage, read        array<vec4<f32>>  [slots, context, kv_heads, head_dim / 4]
//   4 v_cache: storage, read        array<vec4<f32>>  [slots, context, kv_heads, head_dim / 4]
//   5 out:     storage, read_write  array<f32>  [tokens, q_heads, head_dim]
//   6 seq:     storage, read        array<vec2<u32>>  [tokens] (slot, position) per token
// Dispatch: (ceil(tokens / BQ), kv_heads) workgroups of WG threads; overrides GROUP = q_heads /
// kv_heads ≤ WG, HD4 = head_dim / 4 ≤ 32, TILE ≤ 16 keys (2 · TILE · head_dim floats of workgroup
// memory).
// Precision: f32 scores, softmax and accumulation (HF upcasts softmax to float32).

struct Params { q_heads: u32, kv_heads: u32, head_dim: u32, scale: f32, q_row: u32, context: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> seq: array<vec2<u32>>;

override GROUP: u32 = 1u;
override HD4: u32 = 16u;
override TILE: u32 = 16u;
const MAX_HD4: u32 = 32u;

var<workgroup> k_tile: array<vec4<f32>, TILE * HD4>;
var<workgroup> v_tile: array<vec4<f32>, TILE * HD4>;
var<workgroup> block: vec2<u32>; // (slot, last position) of the block, uniform

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let bq = WG / GROUP;
  let first = at.wid.x * bq;
  let kvh = at.wid.y;
  let t = first + at.lid / GROUP;
  let h = kvh * GROUP + at.lid % GROUP;
  let live = at.lid < bq * GROUP && t < frame.tokens;
  let row = min(t, frame.tokens - 1u); // idle threads mirror a real row, and write nothing
  if (at.lid == 0u) {
    block = vec2<u32>(seq[first].x, seq[min(first + bq, frame.tokens) - 1u].y);
  }
  let b = workgroupUniformLoad(&block);
  let position = seq[row].y;
  let kv_stride = params.kv_heads * HD4;
  let base = b.x * params.context * kv_stride + kvh * HD4;
  var qv: array<vec4<f32>, MAX_HD4>;
  var acc: array<vec4<f32>, MAX_HD4>;
  for (var d = 0u; d < HD4; d++) {
    qv[d] = q[row * (params.q_row / 4u) + h * HD4 + d] * params.scale;
  }
  var m = LOWEST;
  var l = 0.0;
  for (var j0 = 0u; j0 <= b.y; j0 += TILE) {
    for (var e = at.lid; e < TILE * HD4; e += WG) {
      let j = min(j0 + e / HD4, b.y); // past the block's last key: a copy of it, never used
      k_tile[e] = k_cache[base + j * kv_stride + e % HD4];
      v_tile[e] = v_cache[base + j * kv_stride + e % HD4];
    }
    workgroupBarrier();
    let n = select(0u, min(TILE, position + 1u - j0), position >= j0); // this row's keys in the tile
    var s: array<f32, 16>; // TILE ≤ 16
    var top = m;
    for (var j = 0u; j < n; j++) {
      var dot4 = vec4<f32>(0.0);
      for (var d = 0u; d < HD4; d++) {
        dot4 += qv[d] * k_tile[j * HD4 + d];
      }
      s[j] = dot4.x + dot4.y + dot4.z + dot4.w;
      top = max(top, s[j]);
    }
    if (n > 0u) {
      let correction = exp(m - top);
      l *= correction;
      for (var d = 0u; d < HD4; d++) {
        acc[d] *= correction;
      }
      for (var j = 0u; j < n; j++) {
        let p = exp(s[j] - top);
        l += p;
        for (var d = 0u; d < HD4; d++) {
          acc[d] += p * v_tile[j * HD4 + d];
        }
      }
      m = top;
    }
    workgroupBarrier();
  }
  if (live) {
    let o = (t * params.q_heads + h) * HD4 * 4u;
    for (var d = 0u; d < HD4; d++) {
      let v = acc[d] / l;
      out[o + 4u * d] = v.x;
      out[o + 4u * d + 1u] = v.y;
      out[o + 4u * d + 2u] = v.z;
      out[o + 4u * d + 3u] = v.w;
    }
  }
}
