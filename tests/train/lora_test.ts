/**
 * LoRA training against PEFT + PyTorch in float64 (tools/goldens/lora_training.py): from a given
 * adapter (B ≠ 0), six AdamW steps with clipping over the adapters only — each step's loss and
 * gradient norm, and every adapter tensor's change (the base has no gradient: it is frozen).
 */
import { packBatch, type Sequence } from "../../src/train/batch.ts";
import { loadTrainable } from "../../src/train/load.ts";
import type { LoraTarget } from "../../src/train/lora.ts";
import { readTensors } from "../_safetensors.ts";
import { assertEquals, assertRelClose } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

for (const adapter of ["tiny-bf16-tied-all", "tiny-f16-rope-scaled-qv-rslora"]) {
  Deno.test(`LoRA training golden ${adapter}: six AdamW steps on the adapters equal PEFT's`, async () => {
    const dir = `${FIXTURES}adapters/${adapter}`;
    const golden = JSON.parse(Deno.readTextFileSync(`${dir}/training/training.json`));
    const config = JSON.parse(Deno.readTextFileSync(`${dir}/adapter_config.json`));
    const fixture = `${FIXTURES}${golden.model}`;
    const batchesOf =
      JSON.parse(Deno.readTextFileSync(`${fixture}/training/training.json`)).batches;
    const init = readTensors(`${dir}/adapter_model.safetensors`);
    const { gpu } = await testGpu();
    const { model } = loadTrainable(gpu, fixture, {
      lora: {
        spec: {
          rank: config.r,
          alpha: config.lora_alpha,
          rslora: config.use_rslora,
          targets: config.target_modules as LoraTarget[],
        },
        init,
      },
    });
    try {
      const vocab = model.config.vocabSize;
      const batches = batchesOf.map((b: Record<string, number[][]>, i: number) =>
        packBatch(
          b.input_ids!.map((ids, r): Sequence => ({
            inputIds: ids,
            attentionMask: b.attention_mask![r],
            labels: b.labels![r],
          })),
          vocab,
          `batch ${i}`,
        )
      );
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
        assertRelClose([r.loss], [golden.steps[s].loss], 1e-4, `step ${s} loss`);
        assertRelClose(
          [r.gradNorm],
          [golden.steps[s].grad_norm_before_clip],
          1e-3,
          `step ${s} norm`,
        );
      }
      const after = await model.tensors();
      const want = readTensors(`${dir}/training/after.safetensors`);
      assertEquals([...after.keys()].sort(), [...want.keys()].sort());
      for (const [name, w] of want) {
        const w0 = init.get(name)!;
        assertRelClose(
          after.get(name)!.map((v, i) => v - w0[i]!),
          w.map((v, i) => v - w0[i]!),
          1e-3,
          `Δ ${name}`,
        );
      }
    } finally {
      model.destroy();
    }
  });
}
