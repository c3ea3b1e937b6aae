// sample: the last pass of sampling: picks the next token of each of R rows (R = the workgroups
// launched: 1 after a prompt, one per sequence when decoding a batch), as Hugging Face's
// processors in order: repetition penalty, temperature, top-k, top-p, min-p, then a draw
// u ∈ [0, 1) from a counter hash of (seed, position) by inverse CDF in vocabulary order; greedy
// (argmax, lowest id on ties) when greedy == 1. Ties at the k-th score are kept; top-p keeps a
// token while the mass strictly above it is below top_p. By what the earlier passes found:
// greedy, or no processor on: from the slices' statistics (a draw picks its slice, then
// its token); candidates ≤ CAP: exactly, over the candidates alone (every kept token is one);
// more: exact thresholds by bitwise search over the order-preserving u32 keys of the whole
// vocabulary (the slow path; nothing is sorted anywhere). With SCAN (the vocabulary is one slice)
// it runs those passes itself over the slice: sampling is then this one launch.
// The pick at position P = p + 1 becomes that sequence's next input on the GPU: ids[r] = pick,
// seq[r] = (s, P), ring[s, P % ring_len] = pick for the host to collect, and its seen bit is set.
// Joined after shared/sampling.wgsl, shared/reduce.wgsl and shared/slice_{stats,bins,gather}.wgsl.
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: R workgroups of WG threads (a power of two ≤ 256).
// Precision: f32 scores and probabilities (exp relative to the maximum).

var<workgroup> cand_id: array<u32, 512>; // CAP
var<workgroup> cand_s: array<f32, 512>;
var<workgroup> cand_k: array<u32, 512>; // kept by top-k
var<workgroup> cand_kept: array<u32, 512>; // kept by every processor
var<workgroup> chosen: atomic<u32>;
/** The vocabulary is one slice: run the scan, bins and gather passes here, none launched. */
override SCAN: bool = false;
var<workgroup> uniform_word: u32;

/** A value computed by thread 0, uniform for the workgroup. */
fn broadcast(lid: u32, v: u32) -> u32 {
  if (lid == 0u) {
    uniform_word = v;
  }
  return workgroupUniformLoad(&uniform_word);
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

/** What the whole-vocabulary paths keep: key ≥ k_min, key > p_above unless all_p, s ≥ floor. */
struct Keep { k_min: u32, p_above: u32, all_p: bool, floor: f32 }

fn kept(k: Keep, s: f32) -> bool {
  return key(s) >= k.k_min && (k.all_p || key(s) > k.p_above) && s >= k.floor;
}

/**
 * The token where the cumulative mass of kept tokens of [lo, hi), in vocabulary order, passes
 * `aim` (times their total when `relative`): each thread sums a contiguous chunk, the thread
 * whose chunk holds the goal walks it. NONE if rounding leaves the goal past the end.
 */
fn draw_range(row: Row, st: Stats, lo: u32, hi: u32, k: Keep, aim: f32, relative: bool, lid: u32) -> u32 {
  let chunk = (hi - lo + WG - 1u) / WG;
  let a = min(lo + lid * chunk, hi);
  let b = min(a + chunk, hi);
  var mine = 0.0;
  for (var i = a; i < b; i++) {
    let s = score(row, i);
    mine += select(0.0, exp(s - st.m), kept(k, s));
  }
  if (lid == 0u) {
    atomicStore(&chosen, NONE);
  }
  partial[lid] = mine;
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    before += select(0.0, partial[t], t < lid);
    total += partial[t];
  }
  let goal = select(aim, aim * total, relative);
  if (mine > 0.0 && goal >= before && goal < before + mine) {
    var acc = before;
    var last = a;
    for (var i = a; i < b; i++) {
      let s = score(row, i);
      if (kept(k, s)) {
        acc += exp(s - st.m);
        last = i;
        if (goal < acc) {
          break;
        }
      }
    }
    atomicMin(&chosen, last);
  }
  workgroupBarrier();
  return broadcast(lid, atomicLoad(&chosen));
}

/** No processor on: the slice that holds u · Σ, then the token within it. */
fn draw_all(row: Row, st: Stats, u: f32, lid: u32) -> u32 {
  var goal = u * st.z;
  var g = 0u;
  for (; g + 1u < params.slices; g++) {
    let at = partial_at(row.r, g);
    let mass = bitcast<f32>(scratch[at + 1u]) * exp(bitcast<f32>(scratch[at]) - st.m);
    if (goal < mass) {
      break;
    }
    goal -= mass;
  }
  let range = slice_range(broadcast(lid, g));
  return draw_range(row, st, range.x, range.y, Keep(0u, 0u, true, LOWEST), goal, false, lid);
}

/** Exactly, over the row's n ≤ CAP candidates (a superset of the kept tokens). */
fn draw_candidates(row: Row, st: Stats, n: u32, u: f32, lid: u32) -> u32 {
  for (var c = lid; c < n; c += WG) {
    cand_id[c] = scratch[candidate_at(row.r, c)];
    cand_s[c] = bitcast<f32>(scratch[candidate_at(row.r, c) + 1u]);
  }
  workgroupBarrier();
  // top-k: fewer than k higher scores (every higher score is a candidate too).
  var mass_k = 0.0;
  for (var c = lid; c < n; c += WG) {
    var higher = 0u;
    for (var j = 0u; j < n; j++) {
      higher += u32(cand_s[j] > cand_s[c]);
    }
    let keep = !top_k_on(row) || higher < row.cfg.top_k;
    cand_k[c] = u32(keep);
    mass_k += select(0.0, exp(cand_s[c] - st.m), keep);
  }
  let z = select(st.z, workgroup_sum(lid, mass_k), top_k_on(row));
  // top-p over the top-k survivors, then min-p.
  let floor = select(LOWEST, st.m + log(row.cfg.min_p), row.cfg.min_p > 0.0);
  var mass = 0.0;
  for (var c = lid; c < n; c += WG) {
    var above = 0.0;
    for (var j = 0u; j < n; j++) {
      above += select(0.0, exp(cand_s[j] - st.m), cand_k[j] == 1u && cand_s[j] > cand_s[c]);
    }
    let keep = cand_k[c] == 1u && (row.cfg.top_p >= 1.0 || above < row.cfg.top_p * z) && cand_s[c] >= floor;
    mass += select(0.0, exp(cand_s[c] - st.m), keep);
    cand_kept[c] = u32(keep);
  }
  if (lid == 0u) {
    atomicStore(&chosen, NONE);
  }
  let goal = u * workgroup_sum(lid, mass);
  // Inverse CDF in vocabulary order: the kept token whose interval of mass holds the goal.
  for (var c = lid; c < n; c += WG) {
    if (cand_kept[c] == 1u) {
      var before = 0.0;
      for (var j = 0u; j < n; j++) {
        before += select(0.0, exp(cand_s[j] - st.m), cand_kept[j] == 1u && cand_id[j] < cand_id[c]);
      }
      if (goal >= before && goal < before + exp(cand_s[c] - st.m)) {
        atomicMin(&chosen, cand_id[c]);
      }
    }
  }
  workgroupBarrier();
  return broadcast(lid, atomicLoad(&chosen));
}

/** Exactly, over the whole vocabulary: thresholds by bitwise search, then the draw. */
fn draw_exact(row: Row, st: Stats, u: f32, lid: u32) -> u32 {
  let n = params.vocab;
  // top-k: the largest key K with at least top_k scores ≥ K (ties at the k-th value kept).
  var k_min = 0u;
  if (top_k_on(row)) {
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = k_min | (1u << u32(bit));
      var c = 0u;
      for (var i = lid; i < n; i += WG) {
        c += u32(key(score(row, i)) >= cand);
      }
      if (workgroup_sum(lid, f32(c)) >= f32(row.cfg.top_k)) { // counts < 2²⁴: exact in f32
        k_min = cand;
      }
    }
  }
  // top-p over the top-k survivors: keep a token when the mass strictly above it is < top_p.
  var p_above = 0u;
  if (row.cfg.top_p < 1.0) {
    var z = 0.0;
    for (var i = lid; i < n; i += WG) {
      let s = score(row, i);
      z += select(0.0, exp(s - st.m), key(s) >= k_min);
    }
    let mass_goal = row.cfg.top_p * workgroup_sum(lid, z);
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = p_above | (1u << u32(bit));
      var g = 0.0;
      for (var i = lid; i < n; i += WG) {
        let s = score(row, i);
        g += select(0.0, exp(s - st.m), key(s) >= k_min && key(s) > cand);
      }
      if (workgroup_sum(lid, g) >= mass_goal) {
        p_above = cand;
      }
    }
  }
  let floor = select(LOWEST, st.m + log(row.cfg.min_p), row.cfg.min_p > 0.0);
  return draw_range(row, st, 0u, n, Keep(k_min, p_above, row.cfg.top_p >= 1.0, floor), u, true, lid);
}

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let row = load_row(at.wid.x, at.groups.x, lid);
  var st: Stats;
  if (SCAN) {
    // The three earlier passes, by this workgroup over the one slice; storageBarrier makes each
    // pass's counts and candidates visible to the next.
    st = slice_stats(row, 0u, params.vocab, lid);
    if (row.cfg.greedy != 1u && filters_on(row)) {
      slice_bins(row, st, 0u, params.vocab, lid);
      storageBarrier();
      slice_gather(row, st, 0u, params.vocab, lid);
      storageBarrier();
    }
  } else {
    st = row_stats(row.r);
  }
  var id = st.argmax;
  if (row.cfg.greedy != 1u) {
    let u = f32(pcg(pcg(row.cfg.seed) ^ row.position) >> 8u) / 16777216.0;
    let n = broadcast(lid, atomicLoad(&counts[count_at(row.r)]));
    var drawn = NONE;
    if (!filters_on(row)) {
      drawn = draw_all(row, st, u, lid);
    } else if (n <= CAP) {
      drawn = draw_candidates(row, st, n, u, lid);
    } else {
      drawn = draw_exact(row, st, u, lid);
    }
    id = select(drawn, st.argmax, drawn == NONE);
  }
  if (lid == 0u) {
    ring[row.slot * params.ring_len + row.position % params.ring_len] = id;
    seq[row.r] = vec2<u32>(row.slot, row.position);
    ids[row.r] = id;
    let words = (params.vocab + 31u) / 32u;
    seen[row.slot * words + (id >> 5u)] |= 1u << (id & 31u);
  }
  for (var b = lid; b < 2u * (BINS + 1u); b += WG) {
    atomicStore(&counts[bins_at(row.r) + b], 0u);
  }
  if (lid == 0u) {
    atomicStore(&counts[count_at(row.r)], 0u);
  }
}
