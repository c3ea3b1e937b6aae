// cross_entropy: nll[r] = logsumexp(logits[r]) − logits[r, targets[r]], i.e. −log softmax(logits[r])
// at the target, as PyTorch's cross_entropy per row; a target of 0xffffffff (ignore_index) gives
// 0. The loss of `perplexity`. One row per workgroup (shared/logsumexp).
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
  let ms = row_logsumexp(lid, base);
  if (lid == 0u) {
    nll[row] = ms.x + log(ms.y) - logits[base + label];
  }
}
