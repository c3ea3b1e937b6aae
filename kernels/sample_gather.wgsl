// sample_gather: the third pass of sampling (rows that draw with top-k, top-p or min-p on): one
// workgroup per slice copies the slice's tokens the processors can keep into the row's candidates
// (shared/slice_gather.wgsl).
// Joined after shared/sampling.wgsl and shared/slice_gather.wgsl.
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: (slices, R) workgroups of WG threads.
// Precision: exact copies of the scores.

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let row = load_row(at.wid.y, at.groups.y, at.lid);
  if (row.cfg.greedy == 1u || !filters_on(row)) {
    return;
  }
  let range = slice_range(at.wid.x);
  slice_gather(row, row_stats(row.r), range.x, range.y, at.lid);
}
