// cross_entropy: nll[r] = logsumexp(logits[r]) − logits[r, targets[r]], i.e. −log softmax(logits[r])
// at the target, as PyTorch's cross_entropy per row; a target of 0xffffffff (ignore_index) gives
// 0. The loss of `perplexity` (and of training next). One row per workgroup: each thread keeps a
// running (max, sum of exp) over its strided columns, then the workgroup merges them.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (rows this pass)
//   1 params:  uniform Params { vocab: u32 }
//   2 logits:  storage, read        array<f32>  [tokens, vocab]
//   3 targets: storage, read        array<u32>  [tokens]
//   4 nll:     storage, read_write  array<f32>  [tokens]
// Dispatch: tokens workgroups, folded into (x, y) with x ≤ 65535; WG threads each (override WG,
// a power of two ≤ 256).
// Precision: f32; the sum is rescaled at each new maximum, so no exp overflows.

struct Params { vocab: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<u32>;
@group(0) @binding(4) var<storage, read_write> nll: array<f32>;

const IGNORE = 0xffffffffu;
var<workgroup> maxima: array<f32, 256>;
var<workgroup> sums: array<f32, 256>;

/** (m, s) merged with (m2, s2): the sum of exp over both, relative to the larger maximum. */
fn merge(m: f32, s: f32, m2: f32, s2: f32) -> vec2f {
  let top = max(m, m2);
  if (top == LOWEST) {
    return vec2f(top, 0.0);
  }
  return vec2f(top, s * exp(m - top) + s2 * exp(m2 - top));
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let row = workgroup_of(at);
  if (row >= frame.tokens) {
    return;
  }
  let label = targets[row];
  if (label == IGNORE) {
    if (lid == 0u) {
      nll[row] = 0.0;
    }
    return;
  }
  let base = row * params.vocab;
  var m = LOWEST;
  var s = 0.0;
  for (var i = lid; i < params.vocab; i += WG) {
    let ms = merge(m, s, logits[base + i], 1.0);
    m = ms.x;
    s = ms.y;
  }
  maxima[lid] = m;
  sums[lid] = s;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let ms = merge(maxima[lid], sums[lid], maxima[lid + half], sums[lid + half]);
      maxima[lid] = ms.x;
      sums[lid] = ms.y;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    nll[row] = maxima[0] + log(sums[0]) - logits[base + label];
  }
}
