import {
  ELEMENT_BYTES,
  inTurns,
  type PackFormat,
  QUANT_BYTES,
  readBuffer,
  uploadArray,
  Uploader,
  uploadMatrix,
} from "../../src/gpu/buffers.ts";
import { assertRelClose } from "../_assert.ts";
import type { Launch } from "../../src/gpu/ops.ts";
import { ropeOrder } from "../../src/model/weights.ts";
import { f32Buffer, nanBuffer, normBuffer, runLaunches, strategies, testGpu } from "../_gpu.ts";
import { encode, randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";

/** f32 math on exactly representable inputs: only accumulation rounding remains. */
const RTOL = 1e-5;
const TYPES = ["f32", "f16", "bf16"] as const;
/**
 * [tokens, rows, cols]: 1 token = matvec, more = tiled matmul (on software adapters from 32 tokens
 * matmul_lanes: 130 × 300 spans several of its token groups and row blocks); odd, prime, tile±1.
 */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 67, 129],
  [1, 5, 1001],
  [2, 3, 5],
  [3, 33, 17],
  [17, 31, 100],
  [130, 300, 72],
  [
    40,
    70,
    257,
  ],
];

for (const type of TYPES) {
  Deno.test(`linear (${type}) matches the CPU reference for matvec and matmul shapes`, async () => {
    const { gpu } = await testGpu();
    const rng = seeded(7);
    for (const [tokens, rows, cols] of SHAPES) {
      for (const ctx of strategies(gpu)) {
        const w = encode(type, randomArray(rng, rows * cols));
        const x = randomArray(rng, tokens * cols, 2);
        const matrix = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
          type,
          rows,
          cols,
          maxBindingBytes: ctx.gpu.limits.maxStorageBufferBindingSize,
          label: "w",
        });
        const y = nanBuffer(ctx.gpu, tokens * rows);
        const launch = ctx.ops.linear(f32Buffer(ctx.gpu, x), matrix, y);
        const got = await runLaunches(
          ctx,
          { start: 0, tokens },
          [[launch, tokens]],
          y,
          tokens * rows,
        );
        assertRelClose(
          got,
          ref.linear(x, w.values, tokens, rows, cols),
          RTOL,
          `${type} [${tokens},${rows},${cols}] ${ctx.name}`,
        );
      }
    }
  });

  Deno.test(`linear (${type}) over a matrix split across bindings accumulates into y`, async () => {
    const { gpu } = await testGpu();
    const rng = seeded(11);
    for (const tokens of [1, 5]) {
      for (const ctx of strategies(gpu)) {
        const [rows, cols] = [37, 31];
        const w = encode(type, randomArray(rng, rows * cols));
        const x = randomArray(rng, tokens * cols);
        const y0 = randomArray(rng, tokens * rows);
        // Room for 5 padded rows (31 columns are stored 32 apart) per binding: 8 parts; the matrix
        // arrives as two stacked blocks (21 + 16 rows) whose seam falls inside a part.
        const seam = 21 * cols * ELEMENT_BYTES[type];
        const blocks = [w.bytes.subarray(0, seam), w.bytes.subarray(seam)];
        const matrix = await uploadMatrix(new Uploader(ctx.gpu.device), blocks, {
          type,
          rows,
          cols,
          maxBindingBytes: 5 * 32 * ELEMENT_BYTES[type],
          label: "w",
        });
        if (matrix.parts.length !== 8) {
          throw new Error(`expected a split, got ${matrix.parts.length} parts`);
        }
        const y = uploadArray(ctx.gpu.device, Float32Array.from(y0), "y");
        const launch = ctx.ops.linear(f32Buffer(ctx.gpu, x), matrix, y, { accumulate: true });
        const got = await runLaunches(
          ctx,
          { start: 0, tokens },
          [[launch, tokens]],
          y,
          tokens * rows,
        );
        const expected = ref.linear(x, w.values, tokens, rows, cols).map((v, i) => v + y0[i]!);
        assertRelClose(got, expected, RTOL, `${type} split, ${tokens} tokens, ${ctx.name}`);
      }
    }
  });
}

Deno.test("linear matvec over more than 65535 workgroups folds its dispatch into two dimensions", async () => {
  const { gpu } = await testGpu();
  const rng = seeded(13);
  for (const ctx of strategies(gpu)) {
    // Rows per workgroup: 8, or 8 per invocation (bf16) when invocations own their rows.
    const perWorkgroup = 8 * (ctx.name === "rows" ? gpu.workgroups.matvec : 1);
    const [rows, cols] = [65535 * perWorkgroup + 17, 3];
    const w = encode("bf16", randomArray(rng, rows * cols));
    const x = randomArray(rng, cols);
    const matrix = await uploadMatrix(new Uploader(gpu.device), w.bytes, {
      type: "bf16",
      rows,
      cols,
      maxBindingBytes: 1 << 27,
      label: "w",
    });
    const y = nanBuffer(gpu, rows);
    const launch = ctx.ops.linear(f32Buffer(gpu, x), matrix, y);
    const got = await runLaunches(ctx, { start: 0, tokens: 1 }, [[launch, 1]], y, rows);
    assertRelClose(got, ref.linear(x, w.values, 1, rows, cols), RTOL, `${rows} rows ${ctx.name}`);
    matrix.parts.forEach((p) => p.buffer.destroy());
    y.destroy();
  }
});

for (const type of TYPES) {
  Deno.test(`linear (${type}) with an RMSNorm input equals rmsnorm, then the product (whole and split matrices)`, async () => {
    const { gpu } = await testGpu();
    const rng = seeded(17);
    const eps = 1e-5;
    for (const [tokens, rows, cols] of SHAPES) {
      for (const parts of [1, 3]) {
        for (const ctx of strategies(gpu)) {
          const w = encode(type, randomArray(rng, rows * cols));
          const x = randomArray(rng, tokens * cols, 2);
          const g = randomArray(rng, cols, 2);
          const stride = Math.ceil(cols / 8) * 8;
          const matrix = await uploadMatrix(new Uploader(ctx.gpu.device), w.bytes, {
            type,
            rows,
            cols,
            maxBindingBytes: parts === 1
              ? ctx.gpu.limits.maxStorageBufferBindingSize
              : Math.ceil(rows / parts) * stride * ELEMENT_BYTES[type],
            label: "w",
          });
          const y0 = randomArray(rng, tokens * rows);
          const y = uploadArray(ctx.gpu.device, Float32Array.from(y0), "y");
          const launch = ctx.ops.linear(f32Buffer(ctx.gpu, x), matrix, y, {
            accumulate: parts > 1,
            norm: { weight: normBuffer(ctx.gpu, g), eps },
          });
          const got = await runLaunches(
            ctx,
            { start: 0, tokens },
            [[launch, tokens]],
            y,
            tokens * rows,
          );
          const normed = ref.rmsnorm(x, g, tokens, cols, eps);
          const expected = ref.linear(normed, w.values, tokens, rows, cols)
            .map((v, i) => parts > 1 ? v + y0[i]! : v);
          assertRelClose(
            got,
            expected,
            RTOL,
            `${type} [${tokens},${rows},${cols}] ${matrix.parts.length} parts ${ctx.name}`,
          );
        }
      }
    }
  });
}

Deno.test("linear with a silu·mul output over gate|up rows in turns of 4 stores silu(gate)·up (every format, whole and split, with and without a norm)", async () => {
  const { gpu } = await testGpu();
  const rng = seeded(19);
  const eps = 1e-5;
  const formats = ["f32", "f16", "bf16", "q8", "q5", "q4"] as const;
  // [tokens, width (F), cols]: F not a multiple of 4 pads each half; 40 tokens take matmul_lanes.
  const shapes: [number, number, number][] = [[1, 6, 17], [1, 37, 64], [5, 13, 72], [40, 37, 64]];
  for (const format of formats) {
    for (const [tokens, width, cols] of shapes) {
      for (const split of [false, true]) {
        for (const ctx of strategies(gpu)) {
          const type = format === "f32" || format === "f16" ? format : "bf16";
          const gate = encode(type, randomArray(rng, width * cols));
          const up = encode(type, randomArray(rng, width * cols));
          const packed = format !== type;
          const rowBytes = cols * ELEMENT_BYTES[type];
          const packer = (f: string) => ctx.ops.packer(f as PackFormat, type);
          const rows = 8 * Math.ceil(width / 4); // both halves padded to a multiple of 4
          const align = packed ? QUANT_BYTES[format as "q8"].align : 8;
          const stride = Math.ceil(cols / align) * align;
          const matrix = await uploadMatrix(
            new Uploader(ctx.gpu.device),
            inTurns([gate.bytes, up.bytes], 4, rowBytes),
            {
              type,
              cols,
              // Split: parts of 9 rows' room, which must round down to whole turns of 8.
              maxBindingBytes: split ? 9 * stride * ELEMENT_BYTES[type] : 1 << 27,
              label: "gate+up",
              turn: 8,
              ...(packed ? { pack: { format: format as PackFormat, part: packer(format) } } : {}),
            },
          );
          if (split !== matrix.parts.length > 1) throw new Error(`${matrix.parts.length} parts`);
          const xs = randomArray(rng, tokens * cols, 2);
          const x = f32Buffer(ctx.gpu, xs);
          for (
            const norm of [undefined, { weight: normBuffer(ctx.gpu, randomArray(rng, cols)), eps }]
          ) {
            // The unfused product (tested above) gives the interleaved gate|up rows.
            const product = nanBuffer(ctx.gpu, tokens * rows);
            const plain = ctx.ops.linear(x, matrix, product, { norm });
            const y = await runLaunches(
              ctx,
              { start: 0, tokens },
              [[plain, tokens]],
              product,
              tokens * rows,
            );
            const expected = new Float64Array(tokens * width);
            for (let t = 0; t < tokens; t++) {
              for (let f = 0; f < width; f++) {
                const at = t * rows + 8 * (f >> 2) + (f & 3);
                const g = y[at]!;
                expected[t * width + f] = g / (1 + Math.exp(-g)) * y[at + 4]!;
              }
            }
            if (!packed && !norm) {
              // Row 8u + i is gate row 4u + i, row 8u + 4 + i its up row.
              const interleaved = new Float64Array(tokens * rows);
              const g = ref.linear(xs, gate.values, tokens, width, cols);
              const u = ref.linear(xs, up.values, tokens, width, cols);
              for (let t = 0; t < tokens; t++) {
                for (let f = 0; f < width; f++) {
                  interleaved[t * rows + 8 * (f >> 2) + (f & 3)] = g[t * width + f]!;
                  interleaved[t * rows + 8 * (f >> 2) + 4 + (f & 3)] = u[t * width + f]!;
                }
              }
              assertRelClose(y, interleaved, RTOL, `${format} interleaved rows`);
            }
            const h = nanBuffer(ctx.gpu, tokens * width);
            const fused = ctx.ops.linear(x, matrix, h, { norm, siluMul: { width } });
            const got = await runLaunches(
              ctx,
              { start: 0, tokens },
              [[fused, tokens]],
              h,
              tokens * width,
            );
            assertRelClose(
              got,
              expected,
              RTOL,
              `${format} [${tokens},${width},${cols}] ${matrix.parts.length} parts, norm ${!!norm}, ${ctx.name}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("linear with a rope_kv output over q|k|v rows in ropeOrder equals the product, then rope_kv_write (f32, q8; whole and split)", async () => {
  const { gpu } = await testGpu();
  const rng = seeded(23);
  const [slots, context, cols, eps] = [2, 64, 24, 1e-5];
  for (const [qHeads, kvHeads, headDim] of [[4, 2, 8], [2, 1, 16]] as const) {
    const rows = (qHeads + 2 * kvHeads) * headDim;
    const kvDim = kvHeads * headDim;
    for (const format of ["f32", "q8"] as const) {
      for (const tokens of [1, 5, 40]) {
        for (const split of [false, true]) {
          for (const ctx of strategies(gpu)) {
            const w = encode("f32", randomArray(rng, rows * cols));
            const tensors = [0, qHeads, qHeads + kvHeads, qHeads + 2 * kvHeads].map((h) =>
              h * headDim * cols * 4
            );
            const [q, k, v] = [0, 1, 2].map((i) => w.bytes.subarray(tensors[i]!, tensors[i + 1]!));
            const stride = format === "q8" ? 64 : 24;
            const upload = (blocks: Uint8Array<ArrayBuffer>[]) =>
              uploadMatrix(new Uploader(ctx.gpu.device), blocks, {
                type: "f32",
                cols,
                maxBindingBytes: split ? 9 * stride * 4 : 1 << 27,
                label: "qkv",
                turn: 8,
                ...(format === "q8"
                  ? { pack: { format, part: ctx.ops.packer(format, "f32") } }
                  : {}),
              });
            const natural = await upload([q!, k!, v!]);
            const ordered = await upload(ropeOrder(headDim)([q!, k!, v!], cols * 4));
            if (split !== ordered.parts.length > 1) throw new Error("expected a split");
            const x = f32Buffer(ctx.gpu, randomArray(rng, tokens * cols, 2));
            const norm = { weight: normBuffer(ctx.gpu, randomArray(rng, cols)), eps };
            const cos = f32Buffer(ctx.gpu, randomArray(rng, context * headDim / 2));
            const sin = f32Buffer(ctx.gpu, randomArray(rng, context * headDim / 2));
            // Each token a distinct (slot, position).
            const seqValues = Array.from({ length: tokens }, (_, t) => [t % slots, 3 + (t >> 1)]);
            const seq = uploadArray(ctx.gpu.device, Uint32Array.from(seqValues.flat()), "seq");
            const results = [];
            for (const fused of [false, true]) {
              const qkv = nanBuffer(ctx.gpu, tokens * rows);
              const caches = {
                k: nanBuffer(ctx.gpu, slots * context * kvDim),
                v: nanBuffer(ctx.gpu, slots * context * kvDim),
              };
              const heads = { qHeads, kvHeads, headDim, context };
              const launches: [Launch, number][] = fused
                ? [[
                  ctx.ops.linear(x, ordered, qkv, {
                    norm,
                    ropeKv: { ...heads, cos, sin, seq, caches },
                  }),
                  tokens,
                ]]
                : [
                  [ctx.ops.linear(x, natural, qkv, { norm }), tokens],
                  [
                    ctx.ops.ropeKvWrite(qkv, cos, sin, seq, caches, { ...heads, row: rows }),
                    tokens,
                  ],
                ];
              const all = await runLaunches(
                ctx,
                { start: 0, tokens },
                launches,
                qkv,
                tokens * rows,
              );
              const kAll = new Float32Array(
                await readBuffer(ctx.gpu.device, caches.k, slots * context * kvDim * 4),
              );
              const vAll = new Float32Array(
                await readBuffer(ctx.gpu.device, caches.v, slots * context * kvDim * 4),
              );
              // q of each token, then its cache rows.
              const out: number[] = [];
              seqValues.forEach(([slot, pos], t) => {
                out.push(...all.subarray(t * rows, t * rows + qHeads * headDim));
                const at = (slot! * context + pos!) * kvDim;
                out.push(...kAll.subarray(at, at + kvDim), ...vAll.subarray(at, at + kvDim));
              });
              results.push(out);
            }
            assertRelClose(
              results[1]!,
              results[0]!,
              RTOL,
              `${format} heads ${qHeads}/${kvHeads}×${headDim}, ${tokens} tokens, ${ordered.parts.length} parts, ${ctx.name}`,
            );
          }
        }
      }
    }
  }
});
