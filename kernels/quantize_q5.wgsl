// quantize_q5: packs a [rows, stride] matrix (as uploaded, zero padded, in a float format) into the q5 format:
// per 64-element group, v ≈ scale · q + min with q in [0, 31]. (scale, min) is the least-squares fit
// that makes the group's squared error smallest among 9 level assignments (levels (max − min) /
// (31 + c), c = −1 … 1 in steps of ¼, each refitted once after re-rounding to the fitted grid), as
// q4 does with 15 levels. The quants are then rounded to the f16-stored (scale, min), so every
// weight sits on its nearest stored level. Each 5-bit quant is stored as its low 4 bits in the q4
// nibble layout and its high bit in a bit plane beside the group's (scale, min), arranged so that
// a shift puts a nibble word's 8 high bits at its nibbles' places: the high bit of quant 32h + 8u + j
// (nibble j of word u) is bit 4j + u of word 1 + h.
// Joined after a float format (kernels/formats/f32, f16, bf16), whose `weight(i)` reads the source.
// Bindings (group 0):
//   0 frame:  uniform Frame  { tokens: u32 }       (unused; shared layout)
//   1 params: uniform Params { groups: u32, part: u32, cols: u32, stride: u32 }  (one invocation per group;
//             stride % 64 == 0; part: this call's id, ≥ 1; columns from cols on are padding, left out of the fit)
//   2 q:      storage, read_write  array<u32>  [rows, stride / 8]: low 4 bits of 8 quants per word
//   3 w: the source [rows, stride], from the format
//   4 scales: storage, read_write  array<u32>  [rows, stride / 64, 3]: (scale, min) as two f16, then
//             the high bits of quants 0–31 and 32–63 (bit 4j + u of word 1 + h: quant 32h + 8u + j)
//   5 status: storage, read_write  atomic<u32>  raised to params.part when a weight is NaN, infinite or
//             beyond ±65504 (the f16 range of scales and minimums): such a part cannot be quantized
// Dispatch: ceil(groups / WG) workgroups, folded into (x, y) with x ≤ 65535; WG threads each.
// Precision: f32 sums over 64 elements; scale and min stored as f16 (round: half to even).

struct Frame { tokens: u32 }
struct Params { groups: u32, part: u32, cols: u32, stride: u32 }

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> q: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;
@group(0) @binding(5) var<storage, read_write> status: atomic<u32>;

override WG: u32 = 64u;

// A least-squares (scale, min) for fixed levels and its squared error.
struct Fit { scale: f32, low: f32, err: f32 }

// Fits v ≈ scale · round(clamp((v − low) · inv, 0, 31)) + min over the group.
// Only the first n elements count (the rest is row padding).
fn fit(v: ptr<function, array<f32, 64>>, n: u32, sq: f32, sum: f32, low: f32, inv: f32) -> Fit {
  var sl = 0.0;
  var sll = 0.0;
  var svl = 0.0;
  for (var k = 0u; k < 64u; k++) {
    let l = select(0.0, clamp(round(((*v)[k] - low) * inv), 0.0, 31.0), k < n);
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

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = (wid.x + wid.y * groups.x) * WG + lid;
  if (g >= params.groups) {
    return;
  }
  let base = g * 64u;
  let n = min(64u, params.cols - base % params.stride); // the group's columns that are not padding
  var v: array<f32, 64>;
  var lo = weight(base);
  var hi = lo;
  var sum = 0.0;
  var sq = 0.0;
  var worst = 0u; // largest magnitude bit pattern: above 65504 (0x477fe000), infinity or NaN is unusable
  for (var k = 0u; k < 64u; k++) {
    v[k] = weight(base + k);
    worst = max(worst, bitcast<u32>(v[k]) & 0x7fffffffu);
    let inside = k < n;
    lo = select(lo, min(lo, v[k]), inside);
    hi = select(hi, max(hi, v[k]), inside);
    sum += select(0.0, v[k], inside);
    sq += select(0.0, v[k] * v[k], inside);
  }
  var best = Fit((hi - lo) / 31.0, lo, 3.4e38);
  if (hi > lo) {
    for (var c = 0u; c < 9u; c++) {
      let first = fit(&v, n, sq, sum, lo, (30.0 + 0.25 * f32(c)) / (hi - lo));
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
  var high = vec2<u32>(0u);
  for (var word = 0u; word < 8u; word++) {
    var packed = 0u;
    for (var k = 0u; k < 8u; k++) {
      let e = 8u * word + k;
      let l = u32(clamp(round((v[e] - sm.y) * inv), 0.0, 31.0));
      packed |= (l & 15u) << (4u * k);
      high[e / 32u] |= (l >> 4u) << (4u * k + word % 4u); // beside its nibble: see the header
    }
    q[g * 8u + word] = packed;
  }
  scales[3u * g] = stored;
  scales[3u * g + 1u] = high.x;
  scales[3u * g + 2u] = high.y;
  if (worst > 0x477fe000u) {
    atomicMax(&status, params.part);
  }
}
