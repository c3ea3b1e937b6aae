/**
 * One decode matvec per weight format, timed on matrices that together far exceed the CPU caches
 * (a matrix reused from cache would flatter a software adapter). Reports ms per matvec and GB/s of
 * the bytes the format stores; with TOKENS > 1, the prefill matmul over that many tokens and its
 * GFLOP/s. Run: deno task bench:matvec [ROWS COLS [TOKENS]]
 */
import { openGpu } from "../src/gpu/device.ts";
import { Ops } from "../src/gpu/ops.ts";
import {
  type GpuMatrix,
  matrixBytes,
  type QuantFormat,
  storageBuffer,
  Uploader,
  uploadMatrix,
} from "../src/gpu/buffers.ts";

const [rows, cols] = [Number(Deno.args[0] ?? 16384), Number(Deno.args[1] ?? 2048)];
const tokens = Number(Deno.args[2] ?? 1);
const WORKING_SET = 256e6; // bytes of weights cycled through per format
const gpu = await openGpu();
const ops = new Ops(gpu);
// bf16 weights of assorted magnitudes (so quantization sees varied groups).
const bytes = new Uint8Array(rows * cols * 2);
for (let i = 0; i < bytes.length; i += 2) {
  [bytes[i], bytes[i + 1]] = [(i * 7919) & 255, 0x3c + (i % 3)];
}
const x = storageBuffer(gpu.device, tokens * cols * 4, "x");
const y = storageBuffer(gpu.device, tokens * rows * 4, "y");
ops.setFrame(tokens);
const what = tokens === 1 ? "matvec" : `matmul of ${tokens} tokens ×`;
console.log(`${gpu.info.description || gpu.info.vendor}: ${what} ${rows}×${cols}`);
for (const format of [undefined, "q8", "q5", "q4"] as (QuantFormat | undefined)[]) {
  const matrices: GpuMatrix[] = [];
  do {
    matrices.push(
      await uploadMatrix(new Uploader(gpu.device), bytes, {
        type: "bf16",
        cols,
        maxBindingBytes: gpu.limits.maxStorageBufferBindingSize,
        label: "w",
        pack: format && { format, part: ops.packer(format, "bf16") },
      }),
    );
  } while (matrices.length * matrixBytes(matrices[0]!) < WORKING_SET);
  const launches = matrices.map((m) => ops.linear(x, m, y));
  let best = Infinity;
  for (let rep = 0; rep < 4; rep++) {
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let i = 0; i < 2 * launches.length; i++) {
      launches[i % launches.length]!.record(pass, tokens);
    }
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([encoder.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    best = Math.min(best, (performance.now() - t0) / (2 * launches.length));
  }
  const gbs = matrixBytes(matrices[0]!) / best / 1e6;
  const gflops = 2 * tokens * rows * cols / best / 1e6;
  console.log(
    `  ${format ?? "bf16"}: ${best.toFixed(2)} ms, ${
      tokens === 1 ? `${gbs.toFixed(2)} GB/s` : `${gflops.toFixed(1)} GFLOP/s`
    }`,
  );
  matrices.forEach((m) => m.parts.forEach((p) => (p.buffer.destroy(), p.scales?.destroy())));
}
gpu.device.destroy();
