// sample_bins: the second pass of sampling (rows that draw with top-k, top-p or min-p on): one
// workgroup per slice counts the row's tokens and their mass per bin (shared/slice_bins.wgsl) into
// the row's bin counts.
// Joined after shared/sampling.wgsl and shared/slice_bins.wgsl.
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: (slices, R) workgroups of WG threads.
// Precision: f32 bin edges; counts exact.

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let row = load_row(at.wid.y, at.groups.y, at.lid);
  if (row.cfg.greedy == 1u || !filters_on(row)) {
    return;
  }
  let range = slice_range(at.wid.x);
  slice_bins(row, row_stats(row.r), range.x, range.y, at.lid);
}
