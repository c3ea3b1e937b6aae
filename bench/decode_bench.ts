/**
 * First end-to-end figures: a random Llama-3-shaped bf16 model (default 1b) generated into a temp
 * folder, loaded through the normal path; prefill tokens/s and decode tokens/s with the logits
 * read back every step (greedy argmax on the host).
 * Run: deno run -A bench/decode_bench.ts [160m|1b|3b|8b] [decode steps]
 */
import { openGpu } from "../src/gpu/device.ts";
import { loadModel } from "../src/model/load.ts";
import { type ShapeName, writeSyntheticModel } from "../src/model/synthetic.ts";

const shape = (Deno.args[0] ?? "1b") as ShapeName;
const steps = Number(Deno.args[1] ?? 32);
const dir = Deno.makeTempDirSync({ prefix: `wgllama_${shape}_` });
try {
  let t0 = performance.now();
  writeSyntheticModel(dir, shape);
  console.log(`generated ${shape} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const gpu = await openGpu();
  const { model, loadSeconds, weightBytes } = await loadModel(dir, { gpu, contextLength: 1024 });
  console.log(
    `device: ${gpu.info.description}; loaded ${(weightBytes / 1e9).toFixed(2)} GB in ${
      loadSeconds.toFixed(1)
    } s`,
  );
  const prompt = Array.from({ length: 128 }, (_, i) => (i * 7919) % model.config.vocabSize);
  t0 = performance.now();
  let logits = await model.lastLogits(prompt, 0);
  const prefill = (performance.now() - t0) / 1000;
  const argmax = (a: Float32Array) => a.reduce((b, v, i) => (v > a[b]! ? i : b), 0);
  logits = await model.lastLogits([argmax(logits)]); // warm-up of the decode pipelines
  t0 = performance.now();
  for (let i = 0; i < steps; i++) logits = await model.lastLogits([argmax(logits)]);
  const perToken = (performance.now() - t0) / 1000 / steps;
  console.log(`prefill 128 tokens: ${(128 / prefill).toFixed(1)} tokens/s`);
  console.log(
    `decode at ~${model.length} context: ${(1 / perToken).toFixed(2)} tokens/s (${
      (perToken * 1000).toFixed(1)
    } ms/token, ` +
      `${(weightBytes / perToken / 1e9).toFixed(2)} GB/s of weights)`,
  );
  gpu.device.destroy();
} finally {
  Deno.removeSync(dir, { recursive: true });
}
