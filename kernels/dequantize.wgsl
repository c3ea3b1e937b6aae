// dequantize: rows [from_row, from_row + rows) of a matrix part [·, stride] in any format
// (kernels/formats/) written out as f32 [rows, cols] from row `first` of the output (the
// stride's zero padding dropped), through the
// format's chunk_weights, 8 weights per item: what LoRA training reads of a packed, frozen base,
// one layer at a time. Joined after shared/elementwise.wgsl and a format's parts.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused; shared layout)
//   1 params: uniform Params { rows: u32, cols: u32, stride: u32, first: u32, from_row: u32 }
//   2 unused:  storage, read        array<u32>  (the linear layout's x: bound, never read, so the
//             formats' bindings keep their places)
//   3 w (and 5 scales): the part, from the format
//   4 out:    storage, read_write  array<f32>  [first + rows, cols]
// Dispatch: shared/elementwise over rows · stride / 8 chunks.
// Precision: exact dequantization in f32, as the format's matmul reads it.

struct Params { rows: u32, cols: u32, stride: u32, first: u32, from_row: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> unused: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn items() -> u32 {
  return params.rows * (params.stride / 8u);
}

fn item(c: u32) {
  let per_row = params.stride / 8u;
  let r = c / per_row;
  let k = (c % per_row) * 8u;
  let w = chunk_weights(params.from_row * per_row + c);
  let base = (params.first + r) * params.cols + k;
  for (var j = 0u; j < 8u; j++) {
    if (k + j < params.cols) {
      out[base + j] = select(w.b[j & 3u], w.a[j & 3u], j < 4u);
    }
  }
}
