// dropout: out (+)= x ⊙ keep / (1 − p), keep[i] = 1 when a counter hash of (seed, i) clears the
// drop threshold p · 2³²: LoRA's dropout on a projection's input (PEFT's lora_dropout), replayed
// exactly in the backward pass by the same seed (and applied there to the input gradient).
// Bindings (group 0):
//   0 frame:  the prelude's { tokens }  (unused: sizes are in params)
//   1 params: uniform Params { n: u32, seed: u32, drop: u32, scale: f32, accumulate: u32 }
//             (drop = p · 2³², scale = 1 / (1 − p))
//   2 x:      storage, read        array<f32>  [n]
//   3 out:    storage, read_write  array<f32>  [n]; += when accumulate == 1
// Dispatch: shared/elementwise over n items.
// Precision: f32.

struct Params { n: u32, seed: u32, drop: u32, scale: f32, accumulate: u32 }

@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

/** PCG hash (as the sampler's). */
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn items() -> u32 {
  return params.n;
}

fn item(i: u32) {
  let kept = pcg_hash(pcg_hash(params.seed) ^ i) >= params.drop;
  let v = select(0.0, x[i] * params.scale, kept);
  out[i] = select(v, out[i] + v, params.accumulate == 1u);
}
