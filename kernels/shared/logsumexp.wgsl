// shared/logsumexp: a row's maximum and sum of exp(logit − maximum) over a workgroup, one pass
// with a running pair per thread merged in a tree (the loss kernels: cross_entropy and its
// gradient). The body declares `logits` and `params.vocab`.
// Bindings (group 0): none of its own.
// Precision: f32; a sum is rescaled at each new maximum, so no exp overflows.

/** A target to leave out (ignore_index). */
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

/** (max, Σ exp(logit − max)) of logits[base .. base + vocab), given to every thread. */
fn row_logsumexp(lid: u32, base: u32) -> vec2f {
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
  let total = vec2f(maxima[0], sums[0]);
  workgroupBarrier(); // maxima and sums may be reused at once
  return total;
}
