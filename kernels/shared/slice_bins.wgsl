// shared/slice_bins: one workgroup's bin counts of a row's tokens [lo, hi) (rows that draw with
// top-k, top-p or min-p on): each token's count and mass go to its bin of processed score below the
// row's maximum (BINS bins of width w, then one for the rest), summed in workgroup memory, then
// added to the row's counts, which bound its kept set. Tokens a constraint rules out are not
// counted. sample_bins runs it per slice; sample itself where the vocabulary is one slice.
// Joined after shared/sampling.wgsl.
// Bindings (group 0): none of its own.
// Precision: f32 bin edges; counts exact.

var<workgroup> local: array<atomic<u32>, 514>; // [2, BINS + 1]: counts, masses

fn slice_bins(row: Row, st: Stats, lo: u32, hi: u32, lid: u32) {
  let w = bin_width(st);
  for (var b = lid; b < 2u * (BINS + 1u); b += WG) {
    atomicStore(&local[b], 0u);
  }
  workgroupBarrier();
  for (var i = lo + lid; i < hi; i += WG) {
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
