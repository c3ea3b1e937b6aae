// shared/sampling: what the four sample kernels share (sample_scan → sample_bins → sample_gather
// → sample): their bindings, each row's settings and processed scores, the merged statistics of
// a row and the cut that bounds its kept set. Row r of R (R = num_workgroups.y for the first three,
// num_workgroups.x for sample) belongs to the token m = tokens − R + r of this forward (its slot
// and position from seq). Processed score s_i = logit_i, repetition-penalised when i is in the
// slot's `seen` bits, divided by the temperature (not when greedy); LOWEST when the slot's output
// is constrained (settings.masked) and i is not among its allowed bits. The vocabulary is cut into
// `slices` slices of SLICE tokens.
// Bindings (group 0):
//   1 params:   uniform Params { vocab: u32, ring_len: u32, slices: u32, slots: u32 }
//   2 logits:   storage, read        array<f32>  [R, vocab]
//   3 seen:     storage, read_write  array<u32>  [2, slots, ceil(vocab / 32)] bit per token: seen
//               (picks are set), then allowed next (a grammar's mask, written by the host)
//   4 ring:     storage, read_write  array<u32>  [slots, ring_len] picks by position
//   5 seq:      storage, read_write  array<vec2<u32>>  [tokens] (slot, position) per input token
//   6 ids:      storage, read_write  array<u32>  [tokens] the model's input ids
//   7 settings: storage, read        array<Settings>  [slots] each sequence's sampling settings (12 words)
//   8 scratch:  storage, read_write  array<u32>: per row (r < slots) slice partials [slices, 4]
//               (max, Σexp(s − max), argmax, lowest finite s), then per row candidates [CAP, 2] (id, s)
//   9 counts:   storage, read_write  array<atomic<u32>>: per row [2, BINS + 1] each bin's token count
//               and mass (Σ floor(exp(s − max) · 2¹²), a lower bound), then per row the candidate
//               count; sample zeroes a row's counts once it has drawn
// Precision: f32 scores and exponentials relative to the row's maximum.

struct Params { vocab: u32, ring_len: u32, slices: u32, slots: u32 }
struct Settings {
  greedy: u32,
  seed: u32,
  top_k: u32,
  temperature: f32,
  top_p: f32,
  min_p: f32,
  repetition_penalty: f32,
  logprobs: u32, // read by logprobs.wgsl: top + 1, 0 = off
  masked: u32, // 1: only the slot's allowed bits may be drawn
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> seen: array<u32>;
@group(0) @binding(4) var<storage, read_write> ring: array<u32>;
@group(0) @binding(5) var<storage, read_write> seq: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> ids: array<u32>;
@group(0) @binding(7) var<storage, read> settings: array<Settings>;
@group(0) @binding(8) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(9) var<storage, read_write> counts: array<atomic<u32>>;

const SLICE: u32 = 4096u;
/** Bins of width w below the maximum, then one for everything lower. */
const BINS: u32 = 256u;
/** Candidates a row can hold; more sends it to the exact full-vocabulary path. */
const CAP: u32 = 512u;
/** A bin's mass is summed in units of 2⁻¹² (a vocabulary under 2²⁰ cannot overflow it). */
const MASS_UNIT: f32 = 4096.0;
const NONE: u32 = 0xffffffffu;

fn partial_at(r: u32, g: u32) -> u32 {
  return (r * params.slices + g) * 4u;
}
fn candidate_at(r: u32, c: u32) -> u32 {
  return params.slots * params.slices * 4u + (r * CAP + c) * 2u;
}
fn bins_at(r: u32) -> u32 {
  return r * 2u * (BINS + 1u);
}
fn count_at(r: u32) -> u32 {
  return params.slots * 2u * (BINS + 1u) + r;
}

/** A row: its index r, its slot, the position being drawn and its settings. */
struct Row {
  r: u32,
  slot: u32,
  position: u32,
  cfg: Settings,
}

var<workgroup> shared_row: Row; // read through workgroupUniformLoad: branches around barriers

/** Row r of `rows`, the same (uniform) value in every thread of the workgroup. */
fn load_row(r: u32, rows: u32, lid: u32) -> Row {
  if (lid == 0u) {
    let token = seq[frame.tokens - rows + r];
    shared_row = Row(r, token.x, token.y + 1u, settings[token.x]);
  }
  return workgroupUniformLoad(&shared_row);
}

/** The processed score of token i: penalised, then divided by the temperature. */
fn score(row: Row, i: u32) -> f32 {
  var l = logits[row.r * params.vocab + i];
  let words = (params.vocab + 31u) / 32u;
  if (row.cfg.masked == 1u && (seen[(params.slots + row.slot) * words + (i >> 5u)] & (1u << (i & 31u))) == 0u) {
    return LOWEST;
  }
  if (row.cfg.repetition_penalty != 1.0 && (seen[row.slot * words + (i >> 5u)] & (1u << (i & 31u))) != 0u) {
    l = select(l / row.cfg.repetition_penalty, l * row.cfg.repetition_penalty, l < 0.0);
  }
  return select(l / row.cfg.temperature, l, row.cfg.greedy == 1u);
}

/** Whether the slot's constraint rules out a token of score s (score gives it LOWEST). */
fn ruled_out(s: f32) -> bool {
  return s <= LOWEST;
}

/** The tokens [lo, hi) of slice g. */
fn slice_range(g: u32) -> vec2<u32> {
  return vec2<u32>(g * SLICE, min(params.vocab, (g + 1u) * SLICE));
}

/** A row's statistics over every slice: max score (lowest id on ties), Σexp(s − max), lowest finite. */
struct Stats { m: f32, z: f32, lo: f32, argmax: u32 }

fn row_stats(r: u32) -> Stats {
  var st = Stats(LOWEST, 0.0, 3.402823e38, 0u);
  for (var g = 0u; g < params.slices; g++) {
    let at = partial_at(r, g);
    let m = bitcast<f32>(scratch[at]);
    if (m > st.m) {
      st.z = st.z * exp(st.m - m);
      st.m = m;
      st.argmax = scratch[at + 2u];
    }
    st.z += bitcast<f32>(scratch[at + 1u]) * exp(m - st.m);
    st.lo = min(st.lo, bitcast<f32>(scratch[at + 3u]));
  }
  return st;
}

/** Bin width: BINS bins span [max − range, max], range = max − lowest, capped at 32. */
fn bin_width(st: Stats) -> f32 {
  return max(min(st.m - st.lo, 32.0), 1e-6) / f32(BINS);
}

/** The bin of score s: floor((max − s) / w), or BINS below the bins' range. */
fn bin_of(s: f32, st: Stats, w: f32) -> u32 {
  return u32(min((st.m - s) / w, f32(BINS)));
}

fn top_k_on(row: Row) -> bool {
  return row.cfg.top_k > 0u && row.cfg.top_k < params.vocab;
}

/**
 * The last bin the pick needs (every token it must see lies in bins 0..cut), from the bin counts.
 * With top-k on, the top-k survivors (top-p's normaliser sums them all): nothing below the bin
 * where the count reaches k. Otherwise what top-p and min-p can keep: nothing below the bin where
 * a lower bound of the mass (each token in bin b weighs at least exp(−(b+1)w), and at least its
 * floored mass) reaches top_p · Σ, nor below max + ln(min_p). NONE when the bins bound nothing.
 */
fn cut_bin(row: Row, st: Stats) -> u32 {
  let w = bin_width(st);
  let at = bins_at(row.r);
  if (top_k_on(row)) {
    var count = 0u;
    for (var b = 0u; b <= BINS; b++) {
      count += atomicLoad(&counts[at + b]);
      if (count >= row.cfg.top_k) {
        return b;
      }
    }
  }
  var cut = NONE;
  if (row.cfg.min_p > 0.0) {
    cut = bin_of(st.m + log(row.cfg.min_p), st, w);
  }
  if (row.cfg.top_p < 1.0) {
    var low = 0.0;
    for (var b = 0u; b < min(cut, BINS); b++) {
      let c = f32(atomicLoad(&counts[at + b]));
      low += max(c * exp(-f32(b + 1u) * w), f32(atomicLoad(&counts[at + BINS + 1u + b])) / MASS_UNIT);
      if (low >= row.cfg.top_p * st.z) {
        return b;
      }
    }
  }
  return cut;
}

/** Whether any of top-k, top-p, min-p can remove a token of the row. */
fn filters_on(row: Row) -> bool {
  return top_k_on(row) || row.cfg.top_p < 1.0 || row.cfg.min_p > 0.0;
}
