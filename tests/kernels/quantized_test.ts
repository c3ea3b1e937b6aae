import {
  type QuantFormat,
  readBuffer,
  uploadArray,
  Uploader,
  uploadMatrix,
} from "../../src/gpu/buffers.ts";
import { assert, assertRelClose } from "../_assert.ts";
import { f32Buffer, nanBuffer, runLaunches, testGpu } from "../_gpu.ts";
import { encode, randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";

/** f32 math on the dequantized weights: only accumulation rounding remains. */
const RTOL = 1e-5;
const GROUP = 32;
/** Scales (and q4 mins) are stored as f16: each is off by up to 2⁻¹¹ relative, over ≤ 128 steps. */
const F16_SLACK = 2 ** -11;

/** The weights a quantized matrix stands for, from its quants and scales (the format's definition). */
async function dequantized(
  device: GPUDevice,
  m: Awaited<ReturnType<typeof uploadMatrix>>,
): Promise<Float32Array> {
  const out = new Float32Array(m.rows * m.cols);
  for (const p of m.parts) {
    const groups = (p.rows * m.stride) / GROUP;
    const bytes = new Uint8Array(
      await readBuffer(device, p.buffer, groups * (m.type === "q8" ? 32 : 16)),
    );
    // q8: one f16 scale per group; q4: an f16 scale then an f16 min per group.
    const scales = new Float16Array(
      await readBuffer(device, p.scales!, groups * (m.type === "q8" ? 2 : 4)),
    );
    for (let r = 0; r < p.rows; r++) {
      for (let k = 0; k < m.cols; k++) {
        const e = r * m.stride + k; // element within the part
        const g = Math.floor(e / GROUP);
        const w = m.type === "q8"
          ? ((bytes[e]! << 24) >> 24) * scales[g]!
          : scales[2 * g + 1]! + scales[2 * g]! * ((bytes[e >> 1]! >> (4 * (e & 1))) & 15);
        out[(p.firstRow + r) * m.cols + k] = w;
      }
    }
  }
  return out;
}

for (const format of ["q8", "q4"] as QuantFormat[]) {
  for (const type of ["f32", "f16", "bf16"] as const) {
    Deno.test(`quantize_${format}_${type} packs groups of 32 within half a step (plus f16 scale rounding) of every weight`, async () => {
      const ctx = await testGpu();
      const rng = seeded(21);
      const [rows, cols] = [45, 100]; // 100 columns: the last group of each row is padded
      const w = encode(type, randomArray(rng, rows * cols, 3));
      const q = ops(ctx).quantizer(format, type);
      const m = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
        type,
        cols,
        maxBindingBytes: 16 * 128 * (type === "f32" ? 4 : 2), // 16 padded rows per part: 3 parts
        label: "w",
        quantize: { format, part: q },
      });
      assert(m.parts.length === 3 && m.stride === 128 && m.type === format, JSON.stringify(m));
      const got = await dequantized(ctx.gpu.device, m);
      for (let r = 0; r < rows; r++) {
        for (let g = 0; g < cols; g += GROUP) {
          const v = w.values.subarray(r * cols + g, r * cols + Math.min(cols, g + GROUP));
          // The group also holds the zero padding when it is the row's last.
          const all = g + GROUP > cols ? [...v, 0] : [...v];
          const step = format === "q8"
            ? Math.max(...all.map(Math.abs)) / 127
            : (Math.max(...all) - Math.min(...all)) / 15;
          v.forEach((x, k) => {
            const err = Math.abs(got[r * cols + g + k]! - x);
            assert(
              err <= step / 2 + F16_SLACK * (128 * step + Math.abs(Math.min(...all))) + 1e-7,
              `row ${r} col ${g + k}: ${got[r * cols + g + k]} vs ${x} (step ${step})`,
            );
          });
        }
      }
    });
  }

  Deno.test(`linear (${format}) equals the CPU reference over the dequantized weights`, async () => {
    const ctx = await testGpu();
    const rng = seeded(33);
    for (const [tokens, rows, cols] of [[1, 67, 129], [1, 9, 32], [5, 33, 100], [40, 70, 257]]) {
      const w = encode("bf16", randomArray(rng, rows! * cols!));
      const m = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
        type: "bf16",
        cols: cols!,
        maxBindingBytes: 1 << 27,
        label: "w",
        quantize: { format, part: ops(ctx).quantizer(format, "bf16") },
      });
      const x = randomArray(rng, tokens! * cols!, 2);
      const y = nanBuffer(ctx.gpu, tokens! * rows!);
      const launch = ctx.ops.linear(f32Buffer(ctx.gpu, x), m, y);
      const got = await runLaunches(
        ctx,
        { start: 0, tokens: tokens! },
        [[launch, tokens!]],
        y,
        tokens! * rows!,
      );
      const expected = ref.linear(x, await dequantized(ctx.gpu.device, m), tokens!, rows!, cols!);
      assertRelClose(got, expected, RTOL, `${format} [${tokens},${rows},${cols}]`);
      // Quantization stays close to the original weights (≈ half a step per weight).
      assertRelClose(
        expected,
        ref.linear(x, w.values, tokens!, rows!, cols!),
        format === "q8" ? 1e-2 : 1e-1,
        "vs bf16",
      );
    }
  });
}

function ops(ctx: Awaited<ReturnType<typeof testGpu>>) {
  return ctx.ops;
}

for (const format of ["q8", "q4"] as QuantFormat[]) {
  Deno.test(`embedding (${format}) gathers dequantized rows, also across parts`, async () => {
    const ctx = await testGpu();
    const rng = seeded(44);
    const [vocab, dim] = [301, 40];
    const table = encode("bf16", randomArray(rng, vocab * dim));
    const m = await uploadMatrix(new Uploader(ctx.gpu.device), table.bytes, {
      type: "bf16",
      cols: dim,
      maxBindingBytes: 50 * 64 * 2, // 50 rows of the 64-wide padded stride per part
      label: "table",
      quantize: { format, part: ctx.ops.quantizer(format, "bf16") },
    });
    assert(m.parts.length === 7, `${m.parts.length} parts`);
    const ids = [0, vocab - 1, 50, 49, 7, 7, 299];
    const x = nanBuffer(ctx.gpu, ids.length * dim);
    const launch = ctx.ops.embedding(
      uploadArray(ctx.gpu.device, Uint32Array.from(ids), "ids"),
      m,
      x,
    );
    const got = await runLaunches(
      ctx,
      { start: 0, tokens: ids.length },
      [[launch, ids.length]],
      x,
      ids.length * dim,
    );
    const rows = await dequantized(ctx.gpu.device, m);
    assertRelClose(got, ref.embedding(rows, ids, dim), 1e-6, `${format} gather`);
  });
}
