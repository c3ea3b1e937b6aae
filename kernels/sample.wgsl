// sample: picks the next token of each of R rows of logits (R = the workgroups launched: 1 after a
// prompt, one per sequence when decoding a batch), as Hugging Face's processors in order:
// repetition penalty (tokens flagged in the sequence's `seen` bits), temperature, top-k, top-p,
// min-p, then a draw u ∈ [0, 1) from a counter hash of (seed, position) by inverse CDF in
// vocabulary order; greedy (argmax, lowest id on ties) when greedy == 1. Thresholds are found by
// bitwise search over the order-preserving u32 keys of the scores, so nothing is sorted.
// Row r belongs to the token m = tokens − R + r of this forward (slot s, position p); the pick at
// position P = p + 1 becomes that sequence's next input on the GPU: ids[r] = pick, seq[r] = (s, P),
// and ring[s, P % ring_len] = pick for the host to collect.
// Bindings (group 0):
//   0 frame:    the prelude's { tokens }  (per forward: tokens)
//   1 params:   uniform Params { vocab: u32, ring_len: u32 }
//   2 logits:   storage, read        array<f32>  [R, vocab]
//   3 seen:     storage, read_write  array<u32>  [slots, ceil(vocab / 32)] bit per token; picks are set
//   4 ring:     storage, read_write  array<u32>  [slots, ring_len] picks by position
//   5 seq:     storage, read_write  array<vec2<u32>>  [tokens] (slot, position) per input token
//   6 ids:      storage, read_write  array<u32>  [tokens] the model's input ids
//   7 settings: storage, read        array<Settings>  [slots] each sequence's sampling settings
// Dispatch: R workgroups of WG threads (override WG, a power of two ≤ 256).
// Precision: f32 scores and probabilities (exp relative to the maximum).

struct Params { vocab: u32, ring_len: u32 }
struct Settings {
  greedy: u32,
  seed: u32,
  top_k: u32,
  temperature: f32,
  top_p: f32,
  min_p: f32,
  repetition_penalty: f32,
  pad: u32,
}

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> seen: array<u32>;
@group(0) @binding(4) var<storage, read_write> ring: array<u32>;
@group(0) @binding(5) var<storage, read_write> seq: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> ids: array<u32>;
@group(0) @binding(7) var<storage, read> settings: array<Settings>;

var<workgroup> red_u: array<u32, 256>;
var<workgroup> chosen: atomic<u32>;
// This workgroup's row: its settings, where its logits and seen bits start.
var<private> cfg: Settings;
var<workgroup> shared_cfg: Settings; // read through workgroupUniformLoad: branches around barriers
var<private> logit_base: u32;
var<private> seen_base: u32;

/** The processed score of token i: penalised, then divided by the temperature. */
fn score(i: u32) -> f32 {
  var l = logits[logit_base + i];
  if (cfg.repetition_penalty != 1.0 && (seen[seen_base + (i >> 5u)] & (1u << (i & 31u))) != 0u) {
    l = select(l / cfg.repetition_penalty, l * cfg.repetition_penalty, l < 0.0);
  }
  if (cfg.greedy == 1u) {
    return l;
  }
  return l / cfg.temperature;
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

fn pick(r: u32, slot: u32, position: u32, id: u32) {
  ring[slot * params.ring_len + position % params.ring_len] = id;
  seq[r] = vec2<u32>(slot, position);
  ids[r] = id;
  seen[seen_base + (id >> 5u)] |= 1u << (id & 31u);
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let n = params.vocab;
  let r = at.wid.x;
  let token = seq[frame.tokens - at.groups.x + r];
  let slot = token.x;
  let position = token.y + 1u; // of the token being drawn
  if (lid == 0u) {
    shared_cfg = settings[slot];
  }
  cfg = workgroupUniformLoad(&shared_cfg);
  let greedy = cfg.greedy == 1u;
  let top_k = cfg.top_k;
  let top_p = cfg.top_p;
  logit_base = r * n;
  seen_base = slot * ((n + 31u) / 32u);
  // 1. Maximum score and its lowest index.
  var best = LOWEST;
  var best_i = 0xffffffffu;
  for (var i = lid; i < n; i += WG) {
    let s = score(i);
    if (s > best) {
      best = s;
      best_i = i;
    }
  }
  partial[lid] = best;
  red_u[lid] = best_i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      let o = partial[lid + s];
      if (o > partial[lid] || (o == partial[lid] && red_u[lid + s] < red_u[lid])) {
        partial[lid] = o;
        red_u[lid] = red_u[lid + s];
      }
    }
    workgroupBarrier();
  }
  let m = partial[0];
  let argmax = red_u[0];
  workgroupBarrier();
  if (greedy) {
    if (lid == 0u) {
      pick(r, slot, position, argmax);
    }
    return;
  }
  // 2. top-k: the largest key K with at least top_k scores ≥ K (ties at the k-th value kept).
  var k_min = 0u;
  if (top_k > 0u && top_k < n) {
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = k_min | (1u << u32(bit));
      var c = 0u;
      for (var i = lid; i < n; i += WG) {
        c += u32(key(score(i)) >= cand);
      }
      if (workgroup_sum(lid, f32(c)) >= f32(top_k)) { // counts < 2²⁴: exact in f32
        k_min = cand;
      }
    }
  }
  // 3. top-p over the top-k survivors: keep a token when the mass strictly above it is < top_p.
  var p_above = 0u; // keep keys > p_above (0 keeps all but the lowest possible key)
  var keep_all_p = true;
  if (top_p < 1.0) {
    keep_all_p = false;
    var z = 0.0;
    for (var i = lid; i < n; i += WG) {
      let s = score(i);
      z += select(0.0, exp(s - m), key(s) >= k_min);
    }
    let mass_goal = top_p * workgroup_sum(lid, z);
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = p_above | (1u << u32(bit));
      var g = 0.0;
      for (var i = lid; i < n; i += WG) {
        let s = score(i);
        let kk = key(s);
        g += select(0.0, exp(s - m), kk >= k_min && kk > cand);
      }
      if (workgroup_sum(lid, g) >= mass_goal) {
        p_above = cand;
      }
    }
  }
  // 4. min-p: keep scores ≥ m + ln(min_p), i.e. probabilities ≥ min_p · the top probability.
  let floor_s = select(LOWEST, m + log(cfg.min_p), cfg.min_p > 0.0);
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
  partial[lid] = mine;
  if (lid == 0u) {
    atomicStore(&chosen, 0xffffffffu);
  }
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    let v = partial[t];
    before += select(0.0, v, t < lid);
    total += v;
  }
  let u = f32(pcg(pcg(cfg.seed) ^ position) >> 8u) / 16777216.0;
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
    pick(r, slot, position, select(c, argmax, c == 0xffffffffu));
  }
}
