/** GPU helpers for tests: one device per test process, NaN-filled outputs, run-and-read. */
import { openGpu } from "../src/gpu/device.ts";
import type { Gpu } from "../src/gpu/device.ts";
import { readBuffer, uploadArray } from "../src/gpu/buffers.ts";
import { type DecodeStrategy, type Launch, Ops } from "../src/gpu/ops.ts";

let shared: Promise<{ gpu: Gpu; ops: Ops }> | undefined;

/** The test process's device and launch builders (created on first use). */
export function testGpu(): Promise<{ gpu: Gpu; ops: Ops }> {
  return shared ??= openGpu().then((gpu) => ({ gpu, ops: new Ops(gpu) }));
}

/** A storage buffer of n f32 NaNs, so an element a kernel fails to write fails the test. */
export function nanBuffer(gpu: Gpu, n: number, label = "out"): GPUBuffer {
  return uploadArray(gpu.device, new Float32Array(n).fill(NaN), label);
}

/** f32 data on the GPU. */
export function f32Buffer(gpu: Gpu, data: ArrayLike<number>, label = "in"): GPUBuffer {
  return uploadArray(gpu.device, Float32Array.from(data), label);
}

/** A norm weight as the linear ops read it: f32, zero padded to a multiple of 4. */
export function normBuffer(gpu: Gpu, g: ArrayLike<number>): GPUBuffer {
  const padded = new Float32Array(Math.ceil(g.length / 4) * 4);
  padded.set(g);
  return f32Buffer(gpu, padded, "norm");
}

/** Records launches in one pass with the given frame, submits, and reads n f32 from `out`. */
export async function runLaunches(
  ctx: { gpu: Gpu; ops: Ops },
  frame: { start: number; tokens: number },
  launches: [Launch, number][],
  out: GPUBuffer,
  n: number,
): Promise<Float32Array> {
  ctx.ops.setFrame(frame.tokens);
  const encoder = ctx.gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const [launch, tokens] of launches) launch.record(pass, tokens, frame.start);
  pass.end();
  ctx.gpu.device.queue.submit([encoder.finish()]);
  return new Float32Array(await readBuffer(ctx.gpu.device, out, n * 4));
}

/** One Ops per decode strategy, so kernel tests cover both on any adapter. */
export function strategies(gpu: Gpu): { name: DecodeStrategy; gpu: Gpu; ops: Ops }[] {
  return (["rows", "split"] as const).map((name) => {
    if (!byStrategy.has(name)) byStrategy.set(name, new Ops(gpu, { decode: name }));
    return { name, gpu, ops: byStrategy.get(name)! };
  });
}

const byStrategy = new Map<DecodeStrategy, Ops>();
