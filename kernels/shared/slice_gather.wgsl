// shared/slice_gather: copies each of a row's tokens [lo, hi) in the bins up to the row's cut (every
// token the processors can keep, see shared/sampling's cut_bin; none a constraint rules out) into
// the row's candidates, (id, score) in any order, counting them; past CAP only the count grows
// (sample then takes the exact full-vocabulary path). sample_gather runs it per slice; sample itself
// where the vocabulary is one slice.
// Joined after shared/sampling.wgsl.
// Bindings (group 0): none of its own.
// Precision: exact copies of the scores.

fn slice_gather(row: Row, st: Stats, lo: u32, hi: u32, lid: u32) {
  let cut = cut_bin(row, st);
  let w = bin_width(st);
  for (var i = lo + lid; i < hi; i += WG) {
    let s = score(row, i);
    if (bin_of(s, st, w) <= cut && !ruled_out(s)) {
      let c = atomicAdd(&counts[count_at(row.r)], 1u);
      if (c < CAP) {
        scratch[candidate_at(row.r, c)] = i;
        scratch[candidate_at(row.r, c) + 1u] = bitcast<u32>(s);
      }
    }
  }
}
