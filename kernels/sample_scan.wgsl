// sample_scan: the first pass of sampling, over slices of the vocabulary in parallel: each
// workgroup takes slice g of row r and writes the slice's max processed score (lowest id on ties),
// Σexp(s − max) and lowest finite score, from which every later pass merges the row's statistics.
// Joined after shared/sampling.wgsl and shared/slice_stats.wgsl.
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: (slices, R) workgroups of WG threads (a power of two ≤ 256).
// Precision: f32; the sum is rescaled at each new maximum.

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let g = at.wid.x;
  let row = load_row(at.wid.y, at.groups.y, at.lid);
  let range = slice_range(g);
  let st = slice_stats(row, range.x, range.y, at.lid);
  if (at.lid == 0u) {
    let out = partial_at(row.r, g);
    scratch[out] = bitcast<u32>(st.m);
    scratch[out + 1u] = bitcast<u32>(st.z);
    scratch[out + 2u] = st.argmax;
    scratch[out + 3u] = bitcast<u32>(st.lo);
  }
}
