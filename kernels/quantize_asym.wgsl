// quantize_asym: packs a [rows, stride] matrix (as uploaded, zero padded, in a float format) into an
// asymmetric format (q4, q5): per group of GROUP elements, v ≈ scale · q + min with q in [0, TOP].
// (scale, min) is the least-squares fit that makes the group's squared error smallest among 9
// level assignments (levels (max − min) / (TOP + c), c = −1 … 1 in steps of ¼, each refitted once
// after re-rounding to the fitted grid); ~20% less squared error than plain min/max rounding on
// Gaussian weights. The quants are then rounded to the f16-stored (scale, min), so every weight
// sits on its nearest stored level. Joined after a float format (kernels/formats/f32, f16, bf16),
// whose `weight(i)` reads the source, and a packing part (kernels/packing/q4, q5), which gives
// GROUP, TOP and how a group is stored.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused; shared layout)
//   1 params: uniform Params { groups: u32, part: u32, cols: u32, stride: u32 }  (one invocation per group;
//             stride % GROUP == 0; part: this call's id, ≥ 1; columns from cols on are padding, left out of the fit)
//   2 q, 4 scales: the packed output, from the packing part
//   3 w: the source [rows, stride], from the format
//   5 status: storage, read_write  atomic<u32>  raised to params.part when a weight is NaN, infinite or
//             beyond ±65504 (the f16 range of scales and minimums): such a part cannot be quantized
// Dispatch: shared/elementwise over params.groups items.
// Precision: f32 sums over a group; scale and min stored as f16 (round: half to even).

struct Params { groups: u32, part: u32, cols: u32, stride: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> status: atomic<u32>;

// A least-squares (scale, min) for fixed levels and its squared error.
struct Fit { scale: f32, low: f32, err: f32 }

// Fits v ≈ scale · round(clamp((v − low) · inv, 0, TOP)) + min over the group.
// Only the first n elements count (the rest is row padding).
fn fit(v: ptr<function, array<f32, GROUP>>, n: u32, sq: f32, sum: f32, low: f32, inv: f32) -> Fit {
  var sl = 0.0;
  var sll = 0.0;
  var svl = 0.0;
  for (var k = 0u; k < GROUP; k++) {
    let l = select(0.0, clamp(round(((*v)[k] - low) * inv), 0.0, TOP), k < n);
    sl += l;
    sll += l * l;
    svl += (*v)[k] * l;
  }
  let count = f32(n);
  let det = count * sll - sl * sl;
  if (det <= 0.0) {
    return Fit(0.0, low, 3.4e38);
  }
  let s = (count * svl - sl * sum) / det;
  let m = (sum - s * sl) / count;
  let err = sq - 2.0 * (s * svl + m * sum) + s * s * sll + 2.0 * s * m * sl + count * m * m;
  return Fit(s, m, err);
}

fn items() -> u32 {
  return params.groups;
}

fn item(g: u32) {
  let base = g * GROUP;
  let n = min(GROUP, params.cols - base % params.stride); // the group's columns that are not padding
  var v: array<f32, GROUP>;
  var lo = weight(base);
  var hi = lo;
  var sum = 0.0;
  var sq = 0.0;
  var worst = 0u; // largest magnitude bit pattern: above 65504 (0x477fe000), infinity or NaN is unusable
  for (var k = 0u; k < GROUP; k++) {
    v[k] = weight(base + k);
    worst = max(worst, bitcast<u32>(v[k]) & 0x7fffffffu);
    let inside = k < n;
    lo = select(lo, min(lo, v[k]), inside);
    hi = select(hi, max(hi, v[k]), inside);
    sum += select(0.0, v[k], inside);
    sq += select(0.0, v[k] * v[k], inside);
  }
  var best = Fit((hi - lo) / TOP, lo, 3.4e38);
  if (hi > lo) {
    for (var c = 0u; c < 9u; c++) {
      let first = fit(&v, n, sq, sum, lo, (TOP - 1.0 + 0.25 * f32(c)) / (hi - lo));
      if (first.err < best.err) {
        best = first;
      }
      if (first.scale > 0.0) {
        let refit = fit(&v, n, sq, sum, first.low, 1.0 / first.scale);
        if (refit.err < best.err) {
          best = refit;
        }
      }
    }
  }
  let stored = pack2x16float(vec2<f32>(best.scale, best.low));
  let sm = unpack2x16float(stored);
  let inv = select(0.0, 1.0 / sm.x, sm.x > 0.0);
  var levels: array<u32, GROUP>;
  for (var k = 0u; k < GROUP; k++) {
    levels[k] = u32(clamp(round((v[k] - sm.y) * inv), 0.0, TOP));
  }
  store_group(g, &levels, stored);
  if (worst > 0x477fe000u) {
    atomicMax(&status, params.part);
  }
}
