import { readBuffer, storageBuffer, uploadArray } from "../../src/gpu/buffers.ts";
import { assert, assertRelClose } from "../_assert.ts";
import { f32Buffer, nanBuffer, runLaunches, testGpu } from "../_gpu.ts";
import { randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";

const IGNORE = 0xffffffff;

Deno.test("cross_entropy: −log softmax at the target per row, ignored rows 0, up to a 128,256 vocabulary", async () => {
  const ctx = await testGpu();
  const rng = seeded(11);
  for (
    const [rows, vocab, scale] of [[1, 1, 1], [7, 513, 3], [5, 128256, 8], [3, 31, 60]] as const
  ) {
    const logits = randomArray(rng, rows * vocab, scale);
    const targets = Array.from(
      { length: rows },
      (_, r) => r === 1 ? -100 : Math.floor(rng() * vocab),
    );
    if (rows > 2) logits[2 * vocab + targets[2]!] = 40 * scale; // a confident, right row
    const nll = nanBuffer(ctx.gpu, rows);
    const launch = ctx.ops.crossEntropy(
      f32Buffer(ctx.gpu, logits),
      uploadArray(ctx.gpu.device, Uint32Array.from(targets, (t) => t < 0 ? IGNORE : t), "t"),
      nll,
      vocab,
    );
    const got = await runLaunches(ctx, { start: 0, tokens: rows }, [[launch, rows]], nll, rows);
    const want = ref.crossEntropy(logits, targets, vocab);
    // Absolute error of a logsumexp is relative to the logits' size: compare with that floor.
    for (let r = 0; r < rows; r++) {
      const err = Math.abs(got[r]! - want[r]!);
      assert(
        err <= 1e-5 * (1 + Math.abs(want[r]!) + scale),
        `${rows}x${vocab} row ${r}: ${got[r]} vs ${want[r]}`,
      );
    }
  }
});

Deno.test("sum_into adds each pass's values to a total kept on the GPU", async () => {
  const ctx = await testGpu();
  const rng = seeded(12);
  const total = storageBuffer(ctx.gpu.device, 4, "total");
  ctx.gpu.device.queue.writeBuffer(total, 0, Float32Array.of(0.5));
  let want = 0.5;
  for (const n of [1, 1000, 37]) {
    const x = randomArray(rng, n, 2);
    want += x.reduce((a, b) => a + b, 0);
    const launch = ctx.ops.sumInto(f32Buffer(ctx.gpu, x), total);
    await runLaunches(ctx, { start: 0, tokens: n }, [[launch, n]], total, 1);
  }
  const got = new Float32Array(await readBuffer(ctx.gpu.device, total, 4));
  assertRelClose(got, Float32Array.of(want), 1e-5);
});
