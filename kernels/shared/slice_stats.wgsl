// shared/slice_stats: one workgroup's statistics of a row's processed scores over tokens [lo, hi):
// the max (lowest id on ties), Σexp(s − max) and the lowest finite score. sample_scan finds them
// per slice; sample finds them itself where the vocabulary is one slice and no row draws (greedy
// decoding then takes one launch). Joined after shared/sampling.wgsl.
// Bindings (group 0): none of its own.
// Precision: f32; the sum is rescaled at each new maximum.

var<workgroup> w_m: array<f32, 256>;
var<workgroup> w_z: array<f32, 256>;
var<workgroup> w_lo: array<f32, 256>;
var<workgroup> w_i: array<u32, 256>;

/** The statistics of row's scores in [lo, hi), the same in every thread (WG a power of two ≤ 256). */
fn slice_stats(row: Row, lo: u32, hi: u32, lid: u32) -> Stats {
  var m = LOWEST;
  var z = 0.0;
  var low = 3.402823e38;
  var best = NONE;
  for (var i = lo + lid; i < hi; i += WG) {
    let s = score(row, i);
    if (s > m) {
      z = z * exp(m - s);
      m = s;
      best = i;
    }
    z += exp(s - m);
    low = select(low, min(low, s), abs(s) <= 3.402823e38 && !ruled_out(s));
  }
  w_m[lid] = m;
  w_z[lid] = z;
  w_lo[lid] = low;
  w_i[lid] = best;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let m2 = w_m[lid + half];
      let top = max(w_m[lid], m2);
      // The larger maximum wins; on a tie the lower id (threads' ids interleave).
      if (m2 > w_m[lid] || (m2 == w_m[lid] && w_i[lid + half] < w_i[lid])) {
        w_i[lid] = w_i[lid + half];
      }
      w_z[lid] = select(w_z[lid] * exp(w_m[lid] - top) + w_z[lid + half] * exp(m2 - top), 0.0, top == LOWEST);
      w_m[lid] = top;
      w_lo[lid] = min(w_lo[lid], w_lo[lid + half]);
    }
    workgroupBarrier();
  }
  return Stats(w_m[0], w_z[0], w_lo[0], w_i[0]);
}
