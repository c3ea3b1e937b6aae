// sample: picks the next token from one row of logits, as Hugging Face's processors in order:
// repetition penalty (tokens flagged in `seen`), temperature, top-k, top-p, min-p, then a draw
// u ∈ [0, 1) from a counter hash of (seed, position) by inverse CDF in vocabulary order; greedy
// (argmax, lowest id on ties) when greedy == 1. Thresholds are found by bitwise search over the
// order-preserving u32 keys of the scores, so nothing is sorted. The pick p at position
// P = start + tokens becomes the next step's input on the GPU: ids[0] = p, next_frame = {P, 1}
// (copied into the frame uniform between steps), ring[P % ring_len] = p for the host to collect.
// Bindings (group 0):
//   0 frame:      uniform Frame  { start: u32, tokens: u32 }
//   1 params:     uniform Params { vocab: u32, greedy: u32, seed: u32, top_k: u32, temperature: f32,
//                                  top_p: f32, min_p: f32, repetition_penalty: f32, ring_len: u32 }
//   2 logits:     storage, read        array<f32>  [vocab]
//   3 seen:       storage, read_write  array<u32>  [ceil(vocab / 32)] bit per token; the pick is set
//   4 ring:       storage, read_write  array<u32>  [ring_len] picks by position
//   5 next_frame: storage, read_write  array<u32>  [2] { start, tokens } of the next decode step
//   6 ids:        storage, read_write  array<u32>  [≥ 1] the model's input ids
// Dispatch: 1 workgroup of 256 threads.
// Precision: f32 scores and probabilities (exp relative to the maximum).

struct Frame { start: u32, tokens: u32 }
struct Params {
  vocab: u32,
  greedy: u32,
  seed: u32,
  top_k: u32,
  temperature: f32,
  top_p: f32,
  min_p: f32,
  repetition_penalty: f32,
  ring_len: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> seen: array<u32>;
@group(0) @binding(4) var<storage, read_write> ring: array<u32>;
@group(0) @binding(5) var<storage, read_write> next_frame: array<u32>;
@group(0) @binding(6) var<storage, read_write> ids: array<u32>;

const WG: u32 = 256u;
var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_u: array<u32, 256>;
var<workgroup> chosen: atomic<u32>;

/** The processed score of token i: penalised, then divided by the temperature. */
fn score(i: u32) -> f32 {
  var l = logits[i];
  if (params.repetition_penalty != 1.0 && (seen[i >> 5u] & (1u << (i & 31u))) != 0u) {
    l = select(l / params.repetition_penalty, l * params.repetition_penalty, l < 0.0);
  }
  if (params.greedy == 1u) {
    return l;
  }
  return l / params.temperature;
}

/** Maps an f32 to a u32 with the same order. */
fn key(f: f32) -> u32 {
  let b = bitcast<u32>(f);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn sum_f(lid: u32, v: f32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      red_f[lid] += red_f[lid + s];
    }
    workgroupBarrier();
  }
  let total = red_f[0];
  workgroupBarrier();
  return total;
}

fn sum_u(lid: u32, v: u32) -> u32 {
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      red_u[lid] += red_u[lid + s];
    }
    workgroupBarrier();
  }
  let total = red_u[0];
  workgroupBarrier();
  return total;
}

fn pick(id: u32) {
  let position = frame.start + frame.tokens;
  ring[position % params.ring_len] = id;
  next_frame[0] = position;
  next_frame[1] = 1u;
  ids[0] = id;
  seen[id >> 5u] |= 1u << (id & 31u);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = params.vocab;
  // 1. Maximum score and its lowest index.
  var best = -3.402823e38;
  var best_i = 0xffffffffu;
  for (var i = lid; i < n; i += WG) {
    let s = score(i);
    if (s > best) {
      best = s;
      best_i = i;
    }
  }
  red_f[lid] = best;
  red_u[lid] = best_i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      let o = red_f[lid + s];
      if (o > red_f[lid] || (o == red_f[lid] && red_u[lid + s] < red_u[lid])) {
        red_f[lid] = o;
        red_u[lid] = red_u[lid + s];
      }
    }
    workgroupBarrier();
  }
  let m = red_f[0];
  let argmax = red_u[0];
  workgroupBarrier();
  if (params.greedy == 1u) {
    if (lid == 0u) {
      pick(argmax);
    }
    return;
  }
  // 2. top-k: the largest key K with at least top_k scores ≥ K (ties at the k-th value kept).
  var k_min = 0u;
  if (params.top_k > 0u && params.top_k < n) {
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = k_min | (1u << u32(bit));
      var c = 0u;
      for (var i = lid; i < n; i += WG) {
        c += u32(key(score(i)) >= cand);
      }
      if (sum_u(lid, c) >= params.top_k) {
        k_min = cand;
      }
    }
  }
  // 3. top-p over the top-k survivors: keep a token when the mass strictly above it is < top_p.
  var p_above = 0u; // keep keys > p_above (0 keeps all but the lowest possible key)
  var keep_all_p = true;
  if (params.top_p < 1.0) {
    keep_all_p = false;
    var z = 0.0;
    for (var i = lid; i < n; i += WG) {
      let s = score(i);
      z += select(0.0, exp(s - m), key(s) >= k_min);
    }
    let mass_goal = params.top_p * sum_f(lid, z);
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = p_above | (1u << u32(bit));
      var g = 0.0;
      for (var i = lid; i < n; i += WG) {
        let s = score(i);
        let kk = key(s);
        g += select(0.0, exp(s - m), kk >= k_min && kk > cand);
      }
      if (sum_f(lid, g) >= mass_goal) {
        p_above = cand;
      }
    }
  }
  // 4. min-p: keep scores ≥ m + ln(min_p), i.e. probabilities ≥ min_p · the top probability.
  let floor_s = select(-3.402823e38, m + log(params.min_p), params.min_p > 0.0);
  // 5. Inverse CDF over contiguous chunks in vocabulary order.
  let chunk = (n + WG - 1u) / WG;
  let lo = min(lid * chunk, n);
  let hi = min(lo + chunk, n);
  var mine = 0.0;
  for (var i = lo; i < hi; i++) {
    let s = score(i);
    let kk = key(s);
    if (kk >= k_min && (keep_all_p || kk > p_above) && s >= floor_s) {
      mine += exp(s - m);
    }
  }
  red_f[lid] = mine;
  if (lid == 0u) {
    atomicStore(&chosen, 0xffffffffu);
  }
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    let v = red_f[t];
    before += select(0.0, v, t < lid);
    total += v;
  }
  let u = f32(pcg(pcg(params.seed) ^ (frame.start + frame.tokens)) >> 8u) / 16777216.0;
  let goal = u * total;
  if (mine > 0.0 && goal >= before && goal < before + mine) {
    var acc = before;
    var last = lo;
    for (var i = lo; i < hi; i++) {
      let s = score(i);
      let kk = key(s);
      if (kk >= k_min && (keep_all_p || kk > p_above) && s >= floor_s) {
        acc += exp(s - m);
        last = i;
        if (goal < acc) {
          break;
        }
      }
    }
    atomicMin(&chosen, last);
  }
  workgroupBarrier();
  if (lid == 0u) {
    let c = atomicLoad(&chosen);
    pick(select(c, argmax, c == 0xffffffffu));
  }
}
