// convert_bf16: rounds a matrix part (as uploaded, [rows, stride] with stride even, f32 or f16) to
// bf16 while loading (`--weights bf16` on an f32 or f16 checkpoint), round to nearest even as
// torch's `.to(torch.bfloat16)` does; NaN stays NaN, overflow rounds to infinity. Joined after a
// float format (kernels/formats/f32, f16), whose `weight(i)` reads the source.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused; shared layout)
//   1 params: uniform Params { words: u32 }        (n / 2: one invocation per output word)
//   2 out:    storage, read_write  array<u32>  [n / 2], bf16 packed two per u32 (element 2i in the low half of word i)
//   3 w:      the source [n], from the format
// Dispatch: shared/elementwise over words items.
// Precision: exact up to the one rounding to bf16.

struct Params { words: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

/** Elements 2i and 2i + 1 as f32. */
fn pair(i: u32) -> vec2<f32> {
  return vec2<f32>(weight(2u * i), weight(2u * i + 1u));
}

/** v rounded to bf16 (nearest even), in the low 16 bits. */
fn bf16(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let rounded = (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
  let nan = (b & 0x7fffffffu) > 0x7f800000u;
  return select(rounded, (b >> 16u) | 0x40u, nan); // a NaN keeps its sign and stays quiet
}

fn items() -> u32 {
  return params.words;
}

fn item(i: u32) {
  let v = pair(i);
  out[i] = bf16(v.x) | (bf16(v.y) << 16u);
}
