import {
  type QuantFormat,
  readBuffer,
  uploadArray,
  Uploader,
  uploadMatrix,
} from "../../src/gpu/buffers.ts";
import { assert, assertEquals, assertRelClose } from "../_assert.ts";
import { Ops } from "../../src/gpu/ops.ts";
import { f32Buffer, nanBuffer, normBuffer, runLaunches, strategies, testGpu } from "../_gpu.ts";
import { encode, gaussianArray, randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";

/** f32 math on the dequantized weights: only accumulation rounding remains. */
const RTOL = 1e-5;
/** Elements per group of each format. */
const GROUP = { q8: 32, q5: 64, q4: 32 } as const;
/** Largest and smallest quant. */
const LEVELS = { q8: [-127, 127], q5: [0, 31], q4: [0, 15] } as const;

/** A quantized matrix read back: the weights it stands for, with each one's level and step. */
async function dequantized(
  device: GPUDevice,
  m: Awaited<ReturnType<typeof uploadMatrix>>,
): Promise<{ values: Float32Array; level: Int32Array; step: Float32Array }> {
  const values = new Float32Array(m.rows * m.cols);
  const level = new Int32Array(m.rows * m.cols);
  const step = new Float32Array(m.rows * m.cols);
  for (const p of m.parts) {
    const elements = p.rows * m.stride;
    const bytes = new Uint8Array(
      await readBuffer(device, p.buffer, m.type === "q8" ? elements : elements / 2),
    );
    // q8: one f16 scale per 32; q4: an f16 scale then an f16 min per 32; q5: per 64 an f16 scale,
    // an f16 min, then two u32 of high bits.
    const scaleBytes = elements / 32 * (m.type === "q8" ? 2 : m.type === "q4" ? 4 : 6);
    const raw = await readBuffer(device, p.scales!, scaleBytes);
    const scales = new Float16Array(raw);
    const words = new Uint32Array(raw);
    for (let r = 0; r < p.rows; r++) {
      for (let k = 0; k < m.cols; k++) {
        const e = r * m.stride + k; // element within the part
        const i = (p.firstRow + r) * m.cols + k;
        if (m.type === "q8") {
          [level[i], step[i]] = [(bytes[e]! << 24) >> 24, scales[e >> 5]!];
          values[i] = level[i]! * step[i]!;
        } else if (m.type === "q4") {
          const g = e >> 5;
          [level[i], step[i]] = [(bytes[e >> 1]! >> (4 * (e & 1))) & 15, scales[2 * g]!];
          values[i] = scales[2 * g + 1]! + step[i]! * level[i]!;
        } else {
          const g = e >> 6;
          // Quant 32h + 8u + j's high bit is bit 4j + u of word 1 + h.
          const high = (words[3 * g + 1 + ((e >> 5) & 1)]! >>> (4 * (e & 7) + ((e >> 3) & 3))) & 1;
          level[i] = ((bytes[e >> 1]! >> (4 * (e & 1))) & 15) | (high << 4);
          step[i] = scales[6 * g]!;
          values[i] = scales[6 * g + 1]! + step[i]! * level[i]!;
        }
      }
    }
  }
  return { values, level, step };
}

/** Squared error of plain rounding with a scale from the group's range (f16-stored): the baseline. */
function roundedError(format: QuantFormat, v: number[]): number {
  if (format === "q8") {
    const s = Math.f16round(Math.max(...v.map(Math.abs)) / 127);
    return v.reduce((a, x) => a + (s > 0 ? x - Math.round(x / s) * s : x) ** 2, 0);
  }
  const top = LEVELS[format][1];
  const [lo, hi] = [Math.min(...v), Math.max(...v)];
  const [s, m] = [Math.f16round((hi - lo) / top), Math.f16round(lo)];
  const l = (x: number) => (s > 0 ? Math.min(top, Math.max(0, Math.round((x - m) / s))) : 0);
  return v.reduce((a, x) => a + (x - m - l(x) * s) ** 2, 0);
}

/** [tokens, rows, cols]: decode with a partial last row block, a single group, a long row with a
 * partial last group, a row shorter than a group; prefill with padded groups. */
const LINEAR_SHAPES = [
  [1, 67, 129],
  [1, 9, 32],
  [1, 19, 1000],
  [1, 35, 16],
  [5, 33, 100],
  [40, 70, 257],
];

for (const format of ["q8", "q5", "q4"] as QuantFormat[]) {
  for (const type of ["f32", "f16", "bf16"] as const) {
    Deno.test(`quantize_${format}_${type} fits each group of ${GROUP[format]} as the reference does, ≥ 15% below plain rounding`, async () => {
      const ctx = await testGpu();
      const rng = seeded(21);
      // The last group of each row is half padding (q5: a quarter).
      const [rows, cols] = [64, format === "q5" ? 112 + 64 : 112];
      const w = encode(type, gaussianArray(rng, rows * cols, 0.05));
      const q = ctx.ops.packer(format, type);
      const m = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
        type,
        cols,
        maxBindingBytes: 24 * (format === "q5" ? 192 : 128) * (type === "f32" ? 4 : 2), // 24 padded rows per part: 3 parts
        label: "w",
        pack: { format, part: q },
      });
      const stride = format === "q5" ? 192 : 128;
      assert(m.parts.length === 3 && m.stride === stride && m.type === format, JSON.stringify(m));
      const got = await dequantized(ctx.gpu.device, m);
      const [bottom, top] = LEVELS[format];
      // Squared errors of full groups [0] and of rows' last, padded groups [1].
      const [sse, reference, rounded] = [[0, 0], [0, 0], [0, 0]];
      for (let r = 0; r < rows; r++) {
        const group = GROUP[format];
        for (let g = 0; g < cols; g += group) {
          const v = [...w.values.subarray(r * cols + g, r * cols + Math.min(cols, g + group))];
          // A row's last group is fitted to its real columns only, not to the padding.
          const fitted = format === "q8" ? ref.quantizeQ8(v) : ref.quantizeQ4(v, top);
          const kind = v.length < group ? 1 : 0;
          v.forEach((x, k) => {
            const i = r * cols + g + k;
            const [y, l, step] = [got.values[i]!, got.level[i]!, got.step[i]!];
            // Every weight sits on its nearest stored level (or beyond an end level).
            const nearest = Math.abs(y - x) <= step / 2 * (1 + 1e-6) + 1e-9 ||
              (l === top && x > y) || (l === bottom && x < y);
            assert(nearest, `row ${r} col ${g + k}: ${y} (level ${l}, step ${step}) for ${x}`);
            sse[kind]! += (y - x) ** 2;
            reference[kind]! += (fitted[k]! - x) ** 2;
          });
          rounded[kind]! += roundedError(format, v);
        }
      }
      for (const kind of [0, 1]) {
        const [e, r, p] = [sse[kind]!, reference[kind]!, rounded[kind]!];
        assert(Math.abs(e - r) <= 0.01 * r, `${["full", "padded"][kind]}: ${e} vs reference ${r}`);
        assert(e <= 0.85 * p, `${["full", "padded"][kind]}: ${e} vs plain rounding ${p}`);
      }
    });
  }

  Deno.test(`linear (${format}) equals the CPU reference over the dequantized weights, plain and with an RMSNorm input`, async () => {
    const ctx = await testGpu();
    const rng = seeded(33);
    const eps = 1e-6;
    for (const [tokens, rows, cols] of LINEAR_SHAPES) {
      const w = encode("bf16", randomArray(rng, rows! * cols!));
      const m = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
        type: "bf16",
        cols: cols!,
        maxBindingBytes: 1 << 27,
        label: "w",
        pack: { format, part: ctx.ops.packer(format, "bf16") },
      });
      const x = randomArray(rng, tokens! * cols!, 2);
      const g = randomArray(rng, cols!, 2);
      const values = (await dequantized(ctx.gpu.device, m)).values;
      const expected = ref.linear(x, values, tokens!, rows!, cols!);
      const normed = ref.linear(
        ref.rmsnorm(x, g, tokens!, cols!, eps),
        values,
        tokens!,
        rows!,
        cols!,
      );
      for (const run of strategies(ctx.gpu)) {
        for (const norm of [undefined, { weight: normBuffer(ctx.gpu, g), eps }]) {
          const y = nanBuffer(ctx.gpu, tokens! * rows!);
          const launch = run.ops.linear(f32Buffer(ctx.gpu, x), m, y, { norm });
          const got = await runLaunches(
            run,
            { start: 0, tokens: tokens! },
            [[launch, tokens!]],
            y,
            tokens! * rows!,
          );
          assertRelClose(
            got,
            norm ? normed : expected,
            RTOL,
            `${format} [${tokens},${rows},${cols}] ${run.name}${norm ? " rmsnorm" : ""}`,
          );
        }
      }
      // Quantization stays close to the original weights (≈ half a step per weight).
      assertRelClose(
        expected,
        ref.linear(x, w.values, tokens!, rows!, cols!),
        format === "q8" ? 1e-2 : format === "q5" ? 5e-2 : 1e-1,
        "vs bf16",
      );
    }
  });
}

for (const format of ["q8", "q5", "q4"] as QuantFormat[]) {
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
      pack: { format, part: ctx.ops.packer(format, "bf16") },
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
    const { values: rows } = await dequantized(ctx.gpu.device, m);
    assertRelClose(got, ref.embedding(rows, ids, dim), 1e-6, `${format} gather`);
  });
}

for (const format of ["q8", "q5", "q4"] as QuantFormat[]) {
  Deno.test(`quantize (${format}) reports the part that holds a NaN, an infinity or a weight beyond ±65504`, async () => {
    const { gpu } = await testGpu();
    const rng = seeded(55);
    for (
      const [type, bad, flagged] of [
        ["f32", NaN, true],
        ["f32", Infinity, true],
        ["bf16", -70000, true],
        ["f16", Infinity, true],
        ["f32", 65504, false], // f16's largest: scales and minimums still hold it
      ] as const
    ) {
      const ops = new Ops(gpu); // a fresh status per case
      const values = randomArray(rng, 20 * 64);
      values[20 * 64 - 7] = bad; // in the last part
      const w = encode(type, values);
      const pack = { format, part: ops.packer(format, type) };
      const upload = (label: string, bytes: Uint8Array<ArrayBuffer>) =>
        uploadMatrix(new Uploader(gpu.device), bytes, {
          type,
          cols: 64,
          maxBindingBytes: 8 * 64 * (type === "f32" ? 4 : 2), // 8 rows per part
          label,
          pack,
        });
      await upload("fine", encode(type, randomArray(rng, 20 * 64)).bytes);
      await upload("bad", w.bytes);
      assertEquals(await ops.unquantizable(), flagged ? "bad[2]" : undefined, `${type} ${bad}`);
    }
  });
}

Deno.test("a quantized upload stages at most the uploader's stagingBytes per part, with the same result", async () => {
  const ctx = await testGpu();
  const w = encode("bf16", gaussianArray(seeded(66), 40 * 96, 0.05));
  const upload = (stagingBytes: number) =>
    uploadMatrix(new Uploader(ctx.gpu.device, 256 << 20, stagingBytes), w.bytes, {
      type: "bf16",
      cols: 96,
      maxBindingBytes: 1 << 27,
      label: "w",
      pack: { format: "q4", part: ctx.ops.packer("q4", "bf16") },
    });
  const [whole, split] = [await upload(256 << 20), await upload(9 * 96 * 2)]; // 9 rows staged
  assertEquals([whole.parts.length, split.parts.length], [1, 5]);
  const [a, b] = [
    await dequantized(ctx.gpu.device, whole),
    await dequantized(ctx.gpu.device, split),
  ];
  assertEquals([...b.values], [...a.values]);
});

Deno.test("dequantize writes every format's weights as f32 [rows, cols], parts and padding included, as the formats read them", async () => {
  const ctx = await testGpu();
  const rng = seeded(71);
  const [rows, cols] = [21, 100]; // stride 128 (q5: 192): padding dropped on the way out
  const values = gaussianArray(rng, rows * cols, 0.05);
  for (
    const [type, pack] of [
      ["f32", undefined],
      ["f16", undefined],
      ["bf16", undefined],
      ["f32", "bf16"],
      ["bf16", "q8"],
      ["f32", "q5"],
      ["f16", "q4"],
    ] as const
  ) {
    const w = encode(type, values);
    const m = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
      type,
      cols,
      maxBindingBytes: 6 * 128 * 2, // several parts
      label: "w",
      ...(pack ? { pack: { format: pack, part: ctx.ops.packer(pack, type) } } : {}),
    });
    const out = nanBuffer(ctx.gpu, rows * cols);
    const got = await runLaunches(
      ctx,
      { start: 0, tokens: 1 },
      [[ctx.ops.dequantize(m, out), 1]],
      out,
      rows * cols,
    );
    const label = `${type}${pack ? ` → ${pack}` : ""}`;
    assert(m.parts.length > 1, `${label}: one part`);
    // Rows 5..17, across parts, written from the output's first row.
    const some = nanBuffer(ctx.gpu, 12 * cols);
    const slice = await runLaunches(
      ctx,
      { start: 0, tokens: 1 },
      [[
        ctx.ops.dequantize(m, some, { first: 5, rows: 12 }),
        1,
      ]],
      some,
      12 * cols,
    );
    assertEquals([...slice], [...got.subarray(5 * cols, 17 * cols)], `${label}: rows 5..17`);
    if (m.type === "q8" || m.type === "q5" || m.type === "q4") {
      assertEquals([...got], [...(await dequantized(ctx.gpu.device, m)).values], label);
    } else {
      // Floats: the stored values exactly (bf16 rounding of f32 where packed).
      const want = m.type === "f32" ? Float32Array.from(w.values) : Float32Array.from(
        m.type === "f16" ? Float16Array.from(w.values) : w.values.map((v) => bf16(v)),
      );
      assertEquals([...got], [...want], label);
    }
  }
});

/** v rounded to bf16 (nearest even), as f32. */
function bf16(v: number): number {
  const b = new Uint32Array(Float32Array.of(v).buffer)[0]!;
  const r = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(Uint32Array.of(r >>> 0).buffer)[0]!;
}
