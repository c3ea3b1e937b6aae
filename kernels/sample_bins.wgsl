// sample_bins: the second pass of sampling (rows that draw with top-k, top-p or min-p on): counts each
// row's tokens and their mass per bin of processed score below the row's maximum (BINS bins of
// width w, then one for the rest), one workgroup per slice, into the row's bin counts, which bound
// its kept set. Tokens a constraint rules out are not counted.
// Joined after shared/sampling.wgsl.
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: (slices, R) workgroups of WG threads.
// Precision: f32 bin edges; counts exact.

var<workgroup> local: array<atomic<u32>, 514>; // [2, BINS + 1]: counts, masses

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let row = load_row(at.wid.y, at.groups.y, lid);
  if (row.cfg.greedy == 1u || !filters_on(row)) {
    return;
  }
  let st = row_stats(row.r);
  let w = bin_width(st);
  for (var b = lid; b < 2u * (BINS + 1u); b += WG) {
    atomicStore(&local[b], 0u);
  }
  workgroupBarrier();
  let range = slice_range(at.wid.x);
  for (var i = range.x + lid; i < range.y; i += WG) {
    let s = score(row, i);
    if (ruled_out(s)) {
      continue; // never kept: neither counted nor a candidate
    }
    let b = bin_of(s, st, w);
    atomicAdd(&local[b], 1u);
    atomicAdd(&local[BINS + 1u + b], u32(exp(s - st.m) * MASS_UNIT));
  }
  workgroupBarrier();
  let out = bins_at(row.r);
  for (var b = lid; b < 2u * (BINS + 1u); b += WG) {
    let c = atomicLoad(&local[b]);
    if (c > 0u) {
      atomicAdd(&counts[out + b], c);
    }
  }
}
