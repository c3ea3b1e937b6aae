// logprobs: log-probabilities under the model — log_softmax of the raw logits, before any
// sampling processor, as OpenAI and vLLM report them — of each row's target token and of its
// `top` most likely tokens (≤ MAX_TOP; by logit, the lower id first on ties). Two uses:
//   decode (params.mode 0): row r's target is the token sample just drew (it wrote the pick to
//     ids[r] and its (slot, position) to seq[r]); the record goes to out[slot, position % ring_len],
//     beside the ring of picks, so several steps run with no host round trip. A row whose slot has
//     logprobs off (settings word 7 = 0) is skipped; otherwise top = word 7 − 1.
//   score (mode 1): row r's target is targets[r] (the prompt's next token); the record goes to
//     out[first + r], top = params.top.
// Joined after shared/logsumexp.wgsl.
// Bindings (group 0):
//   1 params:   uniform Params { vocab: u32, ring_len: u32, mode: u32, top: u32, first: u32 }
//   2 logits:   storage, read        array<f32>  [R, vocab]
//   3 targets:  storage, read        array<u32>  [R] (decode: ids)
//   4 seq:      storage, read        array<vec2<u32>>  [R] (slot, position) (decode)
//   5 settings: storage, read        array<u32>  [slots, 12] the sample kernels' settings (decode)
//   6 out:      storage, read_write  array<u32>  records of REC words: the target's id and
//               log-probability (f32 bits), n, then n × (id, log-probability)
// Dispatch: R workgroups of WG threads (a power of two ≤ 256).
// Precision: f32; log p = logit − (max + log Σ exp(logit − max)).

struct Params { vocab: u32, ring_len: u32, mode: u32, top: u32, first: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<u32>;
@group(0) @binding(4) var<storage, read> seq: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read> settings: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<u32>;

const MAX_TOP: u32 = 20u;
const REC: u32 = 3u + 2u * MAX_TOP;
const NO_ID: u32 = 0xffffffffu;

var<workgroup> head_v: array<f32, 256>;
var<workgroup> head_i: array<u32, 256>;
var<workgroup> head_t: array<u32, 256>;

/** Whether (v, i) ranks above (w, j): the larger logit, or the lower id on a tie. */
fn ranks_above(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let r = at.wid.x;
  var top = params.top;
  var record = (params.first + r) * REC;
  if (params.mode == 0u) {
    let s = seq[r];
    let word = settings[s.x * 12u + 7u];
    if (word == 0u) {
      return;
    }
    top = word - 1u;
    record = (s.x * params.ring_len + s.y % params.ring_len) * REC;
  }
  top = min(top, MAX_TOP);
  let base = r * params.vocab;
  let ms = row_logsumexp(lid, base);
  let log_z = ms.x + log(ms.y);

  // Each thread's `top` best of its strided share, best first (a later equal logit has a higher
  // id, so it never displaces an earlier one).
  var best_v: array<f32, MAX_TOP>;
  var best_i: array<u32, MAX_TOP>;
  for (var k = 0u; k < MAX_TOP; k++) {
    best_v[k] = LOWEST;
    best_i[k] = NO_ID;
  }
  if (top > 0u) {
    for (var i = lid; i < params.vocab; i += WG) {
      let v = logits[base + i];
      if (v > best_v[top - 1u]) {
        var k = top - 1u;
        while (k > 0u && v > best_v[k - 1u]) {
          best_v[k] = best_v[k - 1u];
          best_i[k] = best_i[k - 1u];
          k--;
        }
        best_v[k] = v;
        best_i[k] = i;
      }
    }
  }
  // The workgroup's best `n`: each round, the best of the threads' next candidates; its owner
  // moves on to its following one.
  let n = min(top, params.vocab);
  var next = 0u;
  for (var k = 0u; k < n; k++) {
    let mine = min(next, MAX_TOP - 1u);
    head_v[lid] = select(LOWEST, best_v[mine], next < top);
    head_i[lid] = select(NO_ID, best_i[mine], next < top);
    head_t[lid] = lid;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
      if (lid < half && ranks_above(head_v[lid + half], head_i[lid + half], head_v[lid], head_i[lid])) {
        head_v[lid] = head_v[lid + half];
        head_i[lid] = head_i[lid + half];
        head_t[lid] = head_t[lid + half];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      out[record + 3u + 2u * k] = head_i[0];
      out[record + 4u + 2u * k] = bitcast<u32>(head_v[0] - log_z);
    }
    if (lid == head_t[0]) {
      next++;
    }
    workgroupBarrier(); // the heads are rewritten next round
  }
  if (lid == 0u) {
    let t = targets[r];
    out[record] = t;
    let lp = bitcast<u32>(logits[base + min(t, params.vocab - 1u)] - log_z);
    out[record + 1u] = select(lp, 0x7fc00000u, t >= params.vocab); // NaN: no such token
    out[record + 2u] = n;
  }
}
