/**
 * Training throughput: optimizer steps of a Llama-3-shaped model with random f32 weights on
 * random tokens, timed after one warm-up step. Reports tokens/s and the achieved FLOP/s
 * (6 × parameters × tokens, the usual count of a forward and backward) as a fraction of the
 * device's measured f32 multiply-add rate (the bench command's `fma_peak_flops`).
 * Run: deno task bench:train [--shape 1b] [--layers N] [--vocab N] [--batch 4] [--seq 256]
 *      [--steps 3] [--checkpoint-layers] [--json]
 * A software adapter cannot hold the 1B shape (20 GB of f32 state, a 128 MiB binding limit):
 * there, --layers and --vocab shrink the model while keeping the 1B layer's dimensions.
 */
import { parseArgs } from "node:util";
import { openGpu } from "../src/gpu/device.ts";
import { Ops } from "../src/gpu/ops.ts";
import { measureFmaPeak } from "../src/gpu/bandwidth.ts";
import { parseLlamaConfig } from "../src/model/config.ts";
import { type ShapeName, syntheticConfig } from "../src/model/synthetic.ts";
import { countParameters } from "../src/model/tensors.ts";
import { packBatch } from "../src/train/batch.ts";
import { gaussian } from "../src/train/random.ts";
import { tensorViews, TrainableLlama, trainingMemory } from "../src/train/trainable.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    shape: { type: "string", default: "1b" },
    layers: { type: "string" },
    vocab: { type: "string" },
    batch: { type: "string", default: "4" },
    seq: { type: "string", default: "256" },
    steps: { type: "string", default: "3" },
    "checkpoint-layers": { type: "boolean" },
    json: { type: "boolean" },
  },
});
const json = {
  ...syntheticConfig(values.shape as ShapeName),
  ...(values.layers ? { num_hidden_layers: Number(values.layers) } : {}),
  ...(values.vocab ? { vocab_size: Number(values.vocab) } : {}),
};
const config = parseLlamaConfig(json);
const [batch, seq, steps] = [Number(values.batch), Number(values.seq), Number(values.steps)];
const checkpointLayers = values["checkpoint-layers"] ?? false;

const gpu = await openGpu();
const normal = gaussian(1);
const tensors = new Map<string, Float32Array>();
for (const v of tensorViews(config)) {
  const t = new Float32Array(v.rows * v.cols);
  const norm = v.rows === 1;
  for (let i = 0; i < t.length; i++) t[i] = norm ? 1 : normal() * 0.02;
  tensors.set(v.name, t);
}
const model = new TrainableLlama(gpu, config, tensors, { checkpointLayers });
tensors.clear();
const rows = () =>
  Array.from({ length: batch }, () => ({
    inputIds: Array.from({ length: seq }, () => Math.floor(Math.random() * config.vocabSize)),
  }));
const settings = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };
await model.trainStep([packBatch(rows(), config.vocabSize)], settings); // warm-up: compiles kernels
const t0 = performance.now();
for (let s = 0; s < steps; s++) {
  await model.trainStep([packBatch(rows(), config.vocabSize)], settings);
}
const seconds = (performance.now() - t0) / 1000;
const peak = await measureFmaPeak(gpu, new Ops(gpu));
const parameters = countParameters(config).total;
const tokensPerSecond = (steps * batch * seq) / seconds;
const flops = 6 * parameters * tokensPerSecond;
const report = {
  device: gpu.info.description || gpu.info.vendor,
  shape: values.shape,
  layers: config.numHiddenLayers,
  vocab: config.vocabSize,
  parameters,
  batch,
  seq,
  steps,
  checkpoint_layers: checkpointLayers,
  seconds_per_step: seconds / steps,
  tokens_per_second: tokensPerSecond,
  flops_per_second: flops,
  fma_peak_flops: peak,
  flop_efficiency: flops / peak,
  memory_bytes: trainingMemory(config, batch * seq, checkpointLayers).total,
};
if (values.json) console.log(JSON.stringify(report));
else {
  console.log(
    `${report.device}: ${values.shape} shape, ${config.numHiddenLayers} layers, vocab ${config.vocabSize} ` +
      `(${(parameters / 1e6).toFixed(1)}M parameters), batch ${batch} × ${seq}` +
      (checkpointLayers ? ", layers recomputed" : ""),
  );
  console.log(
    `  ${(seconds / steps).toFixed(2)} s/step, ${tokensPerSecond.toFixed(0)} tokens/s, ` +
      `${(flops / 1e9).toFixed(1)} GFLOP/s = ${
        (report.flop_efficiency * 100).toFixed(1)
      }% of the ` +
      `FMA peak ${(peak / 1e9).toFixed(1)} GFLOP/s; memory ${
        (report.memory_bytes / 2 ** 30).toFixed(2)
      } GiB`,
  );
}
model.destroy();
gpu.device.destroy();
