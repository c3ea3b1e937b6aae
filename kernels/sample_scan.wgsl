// sample_scan: the first pass of sampling, over slices of the vocabulary in parallel: each
// workgroup takes slice g of row r and writes the slice's max processed score (lowest id on ties),
// Σexp(s − max) and lowest finite score, from which every later pass merges the row's statistics.
// Joined after shared/sampling.wgsl (bindings, scores, scratch layout).
// Bindings (group 0): 0 frame, 1–9 as shared/sampling.
// Dispatch: (slices, R) workgroups of WG threads (a power of two ≤ 256).
// Precision: f32; the sum is rescaled at each new maximum.

var<workgroup> w_m: array<f32, 256>;
var<workgroup> w_z: array<f32, 256>;
var<workgroup> w_lo: array<f32, 256>;
var<workgroup> w_i: array<u32, 256>;

@compute @workgroup_size(WG)
fn main(at: Invocation) {
  let lid = at.lid;
  let g = at.wid.x;
  let row = load_row(at.wid.y, at.groups.y, lid);
  let range = slice_range(g);
  var m = LOWEST;
  var z = 0.0;
  var lo = 3.402823e38;
  var best = NONE;
  for (var i = range.x + lid; i < range.y; i += WG) {
    let s = score(row, i);
    if (s > m) {
      z = z * exp(m - s);
      m = s;
      best = i;
    }
    z += exp(s - m);
    lo = select(lo, min(lo, s), abs(s) <= 3.402823e38 && !ruled_out(s));
  }
  w_m[lid] = m;
  w_z[lid] = z;
  w_lo[lid] = lo;
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
  if (lid == 0u) {
    let out = partial_at(row.r, g);
    scratch[out] = bitcast<u32>(w_m[0]);
    scratch[out + 1u] = bitcast<u32>(w_z[0]);
    scratch[out + 2u] = w_i[0];
    scratch[out + 3u] = bitcast<u32>(w_lo[0]);
  }
}
