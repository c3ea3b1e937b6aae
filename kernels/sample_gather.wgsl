// sample_gather: the third pass of sampling (rows that draw with top-k, top-p or min-p on): copies
// each token in the bins up to the row's cut (every token the processors can keep, see
// shared/sampling's cut_bin; none a constraint rules out) into the row's candidates, (id, score) in any order, counting them;
// past CAP only the count grows (sample then takes the exact full-vocabulary path).
// Joined after shared/sampling.wgsl.
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: (slices, R) workgroups of WG threads.
// Precision: exact copies of the scores.

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let row = load_row(at.wid.y, at.groups.y, at.lid);
  if (row.cfg.greedy == 1u || !filters_on(row)) {
    return;
  }
  let st = row_stats(row.r);
  let cut = cut_bin(row, st);
  let w = bin_width(st);
  let range = slice_range(at.wid.x);
  for (var i = range.x + at.lid; i < range.y; i += WG) {
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
