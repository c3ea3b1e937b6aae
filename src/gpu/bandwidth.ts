/**
 * The device's ceilings as our own kernels see them: memory bandwidth (buffer-to-buffer copy and a
 * read-only kernel; the read figure is the roofline for bandwidth-bound kernels such as decode
 * matvecs) and the f32 multiply-add rate (the roofline for compute-bound prefill).
 * @module
 */
import { storageBuffer } from "./buffers.ts";
import type { Gpu } from "./device.ts";
import type { Ops } from "./ops.ts";

/** Measured bandwidths in bytes per second. */
export interface Bandwidth {
  copy: number;
  read: number;
}

/** Times `reps` repetitions of work recorded by `record` in one submit (best of 5 rounds: the
 * figure is a ceiling, and shared machines are noisy). */
async function timeSubmits(
  gpu: Gpu,
  reps: number,
  record: (encoder: GPUCommandEncoder) => void,
): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const encoder = gpu.device.createCommandEncoder();
    for (let r = 0; r < reps; r++) record(encoder);
    const t0 = performance.now();
    gpu.device.queue.submit([encoder.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

/** Measures copy and read bandwidth over a buffer of up to `bytes` (default 256 MiB, within limits). */
export async function measureBandwidth(gpu: Gpu, ops: Ops, bytes = 256 << 20): Promise<Bandwidth> {
  const size = Math.min(bytes, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize) &
    ~15;
  const a = storageBuffer(gpu.device, size, "bandwidth.a");
  const b = storageBuffer(gpu.device, size, "bandwidth.b");
  const groups = 128;
  const out = storageBuffer(gpu.device, groups * gpu.workgroups.matvec * 4, "bandwidth.out");
  const reps = 4;
  const copySeconds = await timeSubmits(gpu, reps, (e) => e.copyBufferToBuffer(a, 0, b, 0, size));
  const read = ops.readAll(a, size, out, groups);
  const readSeconds = await timeSubmits(gpu, reps, (e) => {
    const pass = e.beginComputePass();
    read.record(pass, 0);
    pass.end();
  });
  for (const buffer of [a, b, out]) buffer.destroy();
  // A copy reads and writes every byte.
  return { copy: (2 * size * reps) / copySeconds, read: (size * reps) / readSeconds };
}

/** Measures the f32 multiply-add rate in FLOP/s (2 per multiply-add), best of 5 rounds. */
export async function measureFmaPeak(gpu: Gpu, ops: Ops): Promise<number> {
  const workgroups = 1024;
  const iterations = 2048;
  const threads = workgroups * gpu.workgroups.elementwise;
  const out = storageBuffer(gpu.device, threads * 4, "fma.out");
  const launch = ops.fmaPeak(out, iterations, workgroups);
  const seconds = await timeSubmits(gpu, 1, (e) => {
    const pass = e.beginComputePass();
    launch.record(pass, 0);
    pass.end();
  });
  out.destroy();
  return (threads * iterations * 8 * 4 * 2) / seconds;
}
