// cross_entropy_grad: the loss of training and its gradient in one kernel: nll[r] =
// logsumexp(logits[r]) − logits[r, target], and logits[r] is overwritten by its gradient
// (softmax(logits[r]) − onehot(target)) · scale, scale = 1 / (labels counted in the batch), so
// the loss is the mean. A target of 0xffffffff (ignore_index) gives nll 0 and a zero gradient.
// One row per workgroup (shared/logsumexp).
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (rows)
//   1 params:  uniform Params { vocab: u32, scale: f32 }
//   2 logits:  storage, read_write  array<f32>  [tokens, vocab]: in, logits; out, their gradient
//   3 targets: storage, read        array<u32>  [tokens]
//   4 nll:     storage, read_write  array<f32>  [tokens]
// Dispatch: tokens workgroups, folded into (x, y) with x ≤ 65535; WG threads each (override WG,
// a power of two ≤ 256).
// Precision: f32; sums rescaled at each new maximum (shared/logsumexp).

struct Params { vocab: u32, scale: f32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<u32>;
@group(0) @binding(4) var<storage, read_write> nll: array<f32>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let row = workgroup_of(at);
  if (row >= frame.tokens) {
    return;
  }
  let label = targets[row];
  let base = row * params.vocab;
  if (label == IGNORE) {
    for (var i = lid; i < params.vocab; i += WG) {
      logits[base + i] = 0.0;
    }
    if (lid == 0u) {
      nll[row] = 0.0;
    }
    return;
  }
  let ms = row_logsumexp(lid, base);
  let row_max = ms.x;
  let sum = ms.y;
  let target_logit = logits[base + label];
  workgroupBarrier(); // every thread has read the target's logit before it is overwritten
  for (var i = lid; i < params.vocab; i += WG) {
    let p = exp(logits[base + i] - row_max) / sum;
    logits[base + i] = (p - select(0.0, 1.0, i == label)) * params.scale;
  }
  if (lid == 0u) {
    nll[row] = row_max + log(sum) - target_logit;
  }
}
