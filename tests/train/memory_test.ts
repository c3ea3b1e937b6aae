/** What `train --dry-run` reports against what a training step allocates. */
import { packBatch } from "../../src/train/batch.ts";
import { loadTrainable } from "../../src/train/load.ts";
import { trainingMemory } from "../../src/train/trainable.ts";
import { assert } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const DIR = new URL("../fixtures/tiny-bf16-tied", import.meta.url).pathname;

for (const checkpointLayers of [false, true]) {
  Deno.test(`training memory estimate within 10% of the allocation (checkpoint layers: ${checkpointLayers})`, async () => {
    const { gpu } = await testGpu();
    const { model } = loadTrainable(gpu, DIR, { checkpointLayers });
    try {
      const rows = Array.from({ length: 4 }, (_, r) => ({
        inputIds: Array.from({ length: 64 }, (_, i) => (r * 64 + i * 7) % 512),
      }));
      await model.accumulate([packBatch(rows, 512)]);
      const estimate = trainingMemory(model.config, 256, checkpointLayers);
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
