// embedding_grad: the embedding table's gradient, a scatter-add without atomics: the host lists
// the batch's distinct ids and, for each, the tokens that used it (grouped, as CSR offsets), and
// one invocation per (distinct id, column) sums those tokens' gradients into the id's row.
// Bindings (group 0):
//   0 frame:   the prelude's { tokens }  (unused: sizes are in params)
//   1 params:  uniform Params { dim: u32, ids: u32 }  (ids: distinct ids in the batch)
//   2 ids:     storage, read        array<u32>  [ids]: the distinct ids
//   3 offsets: storage, read        array<u32>  [ids + 1]: id u's tokens are order[offsets[u]..offsets[u+1]]
//   4 order:   storage, read        array<u32>  [tokens]: token indices grouped by id
//   5 dx:      storage, read        array<f32>  [tokens, dim]
//   6 dtable:  storage, read_write  array<f32>  [vocab, dim]: += (other uses, e.g. a tied lm_head, add too)
// Dispatch: shared/elementwise over ids · dim items.
// Precision: f32, summed in token order.

struct Params { dim: u32, ids: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dtable: array<f32>;

fn items() -> u32 {
  return params.ids * params.dim;
}

fn item(i: u32) {
  let u = i / params.dim;
  let c = i % params.dim;
  var sum = 0.0;
  for (var k = offsets[u]; k < offsets[u + 1u]; k++) {
    sum += dx[order[k] * params.dim + c];
  }
  dtable[ids[u] * params.dim + c] += sum;
}
