// embedding: x[t, :] = table[ids[t] - first_row, :dim] for the ids that fall in this part of the
// table (a table larger than one binding is split by rows and launched once per part). Joined
// after a format (kernels/formats/), whose `weight(i)` reads the table in any stored type.
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (per forward)
//   1 params: uniform Params { dim: u32, stride: u32, first_row: u32, rows: u32 }
//   2 ids:    storage, read        array<u32>  [tokens]
//   3 w (and 5 scales): the table [rows, stride], from the format
//   4 x:      storage, read_write  array<f32>  [tokens, dim]
// Dispatch: shared/elementwise over tokens · dim items.
// Precision: the format's widening or dequantization, in f32.

struct Params { dim: u32, stride: u32, first_row: u32, rows: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

fn items() -> u32 {
  return frame.tokens * params.dim;
}

fn item(i: u32) {
  let id = ids[i / params.dim];
  if (id < params.first_row || id - params.first_row >= params.rows) {
    return;
  }
  x[i] = weight((id - params.first_row) * params.stride + i % params.dim);
}
