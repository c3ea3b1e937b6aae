/**
 * One training step of each fixture against float64 PyTorch-autograd goldens (tests/fixtures
 * README, "Training goldens"): the loss, every parameter's gradient, and the parameters after
 * six AdamW steps with clipping.
 */
import { packBatch, type Sequence } from "../../src/train/batch.ts";
import { loadTrainable } from "../../src/train/load.ts";
import { readTensors } from "../_safetensors.ts";
import { assert, assertRelClose } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

interface Golden {
  batches: { input_ids: number[][]; attention_mask: number[][]; labels: number[][] }[];
  loss_batch0: number;
  grad_global_norm_batch0: number;
  hyperparameters: {
    lr: number;
    betas: [number, number];
    eps: number;
    weight_decay: number;
    max_grad_norm: number;
    steps: number;
  };
  steps: { loss: number; grad_norm_before_clip: number }[];
}

function sequences(b: Golden["batches"][number]): Sequence[] {
  return b.input_ids.map((ids, i) => ({
    inputIds: ids,
    attentionMask: b.attention_mask[i],
    labels: b.labels[i],
  }));
}

const CASES = [
  ["tiny-f32", false],
  ["tiny-bf16-tied", false],
  ["tiny-f16-rope-scaled", false],
  // Recomputing each layer's activations before its backward changes nothing.
  ["tiny-bf16-tied", true],
] as const;

for (const [name, checkpointLayers] of CASES) {
  const how = checkpointLayers ? " with layers recomputed (--checkpoint-layers)" : "";
  Deno.test(`training golden ${name}${how}: loss, every gradient, six AdamW steps`, async () => {
    const { gpu } = await testGpu();
    const dir = `${FIXTURES}${name}`;
    const golden: Golden = JSON.parse(Deno.readTextFileSync(`${dir}/training/training.json`));
    const { model } = loadTrainable(gpu, dir, { checkpointLayers });
    try {
      const vocab = model.config.vocabSize;
      const batches = golden.batches.map((b, i) => packBatch(sequences(b), vocab, `batch ${i}`));
      const start = await model.tensors();
      const { loss } = await model.accumulate([batches[0]!]);
      assertRelClose([loss], [golden.loss_batch0], 1e-5, "loss");
      const grads = await model.tensors("gradients");
      const want = readTensors(`${dir}/training/grads.safetensors`);
      assert(grads.size === want.size, `${grads.size} gradients, golden has ${want.size}`);
      for (const [tensor, g] of want) assertRelClose(grads.get(tensor)!, g, 1e-4, `d ${tensor}`);
      const norm = await model.gradientNorm();
      assertRelClose([norm], [golden.grad_global_norm_batch0], 1e-4, "gradient norm");

      const h = golden.hyperparameters;
      const settings = {
        lr: h.lr,
        beta1: h.betas[0],
        beta2: h.betas[1],
        eps: h.eps,
        weightDecay: h.weight_decay,
        maxGradNorm: h.max_grad_norm,
      };
      for (let s = 0; s < h.steps; s++) {
        const r = await model.trainStep([batches[s % 2]!], settings);
        assertRelClose([r.loss], [golden.steps[s]!.loss], 1e-4, `step ${s} loss`);
        assertRelClose(
          [r.gradNorm],
          [golden.steps[s]!.grad_norm_before_clip],
          1e-3,
          `step ${s} norm`,
        );
      }
      const after = await model.tensors();
      for (const [tensor, w] of readTensors(`${dir}/training/after.safetensors`)) {
        const w0 = start.get(tensor)!;
        const delta = after.get(tensor)!.map((v, i) => v - w0[i]!);
        assertRelClose(
          delta,
          w.map((v, i) => v - w0[i]!),
          1e-3,
          `Δ ${tensor} after ${h.steps} steps`,
        );
      }
    } finally {
      model.destroy();
    }
  });
}

Deno.test("lm_head and the loss in chunks of 64 tokens give the gradients of one pass", async () => {
  const { gpu } = await testGpu();
  const dir = `${FIXTURES}tiny-f32`;
  const rows = Array.from({ length: 4 }, (_, r) => ({
    inputIds: Array.from({ length: 50 }, (_, i) => (r * 131 + i * 17) % 512),
  }));
  const results = [];
  for (const headTokens of [undefined, 64]) {
    const { model } = loadTrainable(gpu, dir, { headTokens });
    try {
      const { loss } = await model.accumulate([packBatch(rows, 512)]);
      results.push({ loss, grads: await model.tensors("gradients") });
    } finally {
      model.destroy();
    }
  }
  const [whole, chunked] = results;
  assertRelClose([chunked!.loss], [whole!.loss], 1e-6, "loss");
  for (const [name, g] of whole!.grads) {
    assertRelClose(chunked!.grads.get(name)!, g, 1e-5, `d ${name}`);
  }
});
