/** What `train --dry-run` reports against what a training step allocates. */
import { packBatch } from "../../src/train/batch.ts";
import { loadTrainable } from "../../src/train/load.ts";
import { trainingMemory } from "../../src/train/trainable.ts";
import type { LoraSpec } from "../../src/train/lora.ts";
import type { PackFormat } from "../../src/gpu/buffers.ts";
import { assert } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const DIR = new URL("../fixtures/tiny-bf16-tied", import.meta.url).pathname;

const LORA: LoraSpec = {
  rank: 4,
  alpha: 8,
  rslora: false,
  targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
};

const CASES: [boolean, LoraSpec | undefined, PackFormat | undefined][] = [
  [false, undefined, undefined],
  [true, undefined, undefined],
  [false, LORA, undefined],
  [true, LORA, "q8"],
];

for (const [checkpointLayers, lora, base] of CASES) {
  const how = `checkpoint layers: ${checkpointLayers}${
    lora ? `, LoRA${base ? ` on a ${base} base` : ""}` : ""
  }`;
  Deno.test(`training memory estimate within 10% of the allocation (${how})`, async () => {
    const { gpu } = await testGpu();
    const { model } = loadTrainable(gpu, DIR, {
      checkpointLayers,
      ...(lora ? { lora: { spec: lora, ...(base ? { base } : {}) } } : {}),
    });
    try {
      const rows = Array.from({ length: 4 }, (_, r) => ({
        inputIds: Array.from({ length: 64 }, (_, i) => (r * 64 + i * 7) % 512),
      }));
      await model.accumulate([packBatch(rows, 512)]);
      const estimate = trainingMemory(model.config, 256, checkpointLayers, lora, base);
      const actual = model.stateBytes + model.batchBytes;
      assert(
        Math.abs(estimate.total - actual) <= 0.1 * actual,
        `estimate ${estimate.total} vs allocated ${actual}`,
      );
    } finally {
      model.destroy();
    }
  });
}
