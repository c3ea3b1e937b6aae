/**
 * Left padding, where wgllama chooses differently from Hugging Face (documented in
 * `train --help`): padding is left out, so a left-padded row's loss is the unpadded row's.
 * Hugging Face also scores the first real token from the last pad, a number that depends on its
 * attention implementation (tools/goldens/left_padding.py, float64: sdpa gives another loss,
 * eager NaN).
 */
import { packBatch } from "../../src/train/batch.ts";
import { loadTrainable } from "../../src/train/load.ts";
import { assert, assertRelClose } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const golden = JSON.parse(Deno.readTextFileSync(`${FIXTURES}padding/left_padding.json`));

Deno.test("a left-padded row's loss is the unpadded row's (Hugging Face's unpadded loss), not Hugging Face's padded one", async () => {
  const { gpu } = await testGpu();
  const { model } = loadTrainable(gpu, `${FIXTURES}${golden.model}`);
  try {
    const row: number[] = golden.row;
    const pad = new Array(golden.pad).fill(0);
    const padded = packBatch([{
      inputIds: [...pad, ...row],
      attentionMask: [...pad, ...row.map(() => 1)],
      labels: [...pad.map(() => -100), ...row],
    }], model.config.vocabSize);
    const { loss } = await model.accumulate([padded]);
    assertRelClose([loss], [golden.unpadded_sdpa], 1e-5, "padded row vs HF unpadded");
    assert(
      Math.abs(loss - golden.left_padded_sdpa) > 0.1,
      `HF's left-padded loss (sdpa) ${golden.left_padded_sdpa} is another number than ${loss}`,
    );
    assert(golden.left_padded_eager === null, "HF eager gives NaN (null in JSON) for this row");
  } finally {
    model.destroy();
  }
});
