import { readBuffer, uploadArray, Uploader, uploadMatrix } from "../../src/gpu/buffers.ts";
import type { Gpu } from "../../src/gpu/device.ts";
import { Ops } from "../../src/gpu/ops.ts";
import { assert, assertEquals, assertRelClose } from "../_assert.ts";
import { f32Buffer, nanBuffer, runLaunches, strategies, testGpu } from "../_gpu.ts";
import { encode, randomArray, seeded, toBf16 } from "../_random.ts";
import * as ref from "../_reference.ts";

/** f32 math: only rounding of f32 arithmetic remains. */
const RTOL = 1e-5;

for (const type of ["f32", "f16", "bf16"] as const) {
  Deno.test(`embedding (${type}) gathers rows, also from a table split across bindings`, async () => {
    const ctx = await testGpu();
    const rng = seeded(3);
    for (const [vocab, dim, split] of [[11, 7, false], [301, 33, true], [1000, 1, true]] as const) {
      const table = encode(type, randomArray(rng, vocab * dim));
      const ids = [0, vocab - 1, 5, 5, Math.floor(vocab / 2), 1, vocab - 2];
      const rowBytes = dim * (type === "f32" ? 4 : 2);
      const matrix = await uploadMatrix(new Uploader(ctx.gpu.device), table.bytes, {
        type,
        rows: vocab,
        cols: dim,
        maxBindingBytes: split ? 16 + 4 * rowBytes : 1 << 27,
        label: "table",
      });
      const x = nanBuffer(ctx.gpu, ids.length * dim);
      const launch = ctx.ops.embedding(
        uploadArray(ctx.gpu.device, Uint32Array.from(ids), "ids"),
        matrix,
        x,
      );
      const got = await runLaunches(
        ctx,
        { start: 0, tokens: ids.length },
        [[launch, ids.length]],
        x,
        ids.length * dim,
      );
      assertRelClose(got, ref.embedding(table.values, ids, dim), 0, `${type} V=${vocab} D=${dim}`);
    }
  });
}

Deno.test("rmsnorm matches HF's formula on every row, and on the last row only", async () => {
  const ctx = await testGpu();
  const rng = seeded(1);
  for (const [rows, dim] of [[1, 1], [3, 1001], [5, 64], [2, 4097]] as [number, number][]) {
    const x = randomArray(rng, rows * dim, 4);
    const w = randomArray(rng, dim);
    const y = nanBuffer(ctx.gpu, rows * dim);
    const [xb, wb] = [f32Buffer(ctx.gpu, x), f32Buffer(ctx.gpu, w)];
    const all = ctx.ops.rmsnorm(xb, wb, y, { dim, eps: 1e-5 });
    const expected = ref.rmsnorm(x, w, rows, dim, 1e-5);
    assertRelClose(
      await runLaunches(ctx, { start: 0, tokens: rows }, [[all, rows]], y, rows * dim),
      expected,
      RTOL,
      `${rows}x${dim}`,
    );
    const last = nanBuffer(ctx.gpu, dim);
    const lastOnly = ctx.ops.rmsnorm(xb, wb, last, { dim, eps: 1e-5, lastOnly: true });
    assertRelClose(
      await runLaunches(ctx, { start: 0, tokens: rows }, [[lastOnly, rows]], last, dim),
      expected.subarray((rows - 1) * dim),
      RTOL,
      `last row of ${rows}x${dim}`,
    );
  }
});

Deno.test("rope rotates q and k halves by absolute position (HF rotate_half)", async () => {
  const ctx = await testGpu();
  const rng = seeded(5);
  const cases: [number, number, number, number, number][] = [
    [1, 1, 1, 2, 0],
    [3, 4, 2, 16, 5],
    [7, 3, 1, 256, 90],
    [2, 5, 5, 8, 0],
  ];
  for (const [tokens, qHeads, kvHeads, hd, start] of cases) {
    const half = hd / 2;
    const ctxLen = start + tokens;
    const invFreq = Array.from({ length: half }, (_, j) => 1 / 10000 ** ((2 * j) / hd));
    const cos = new Float32Array(ctxLen * half);
    const sin = new Float32Array(ctxLen * half);
    for (let p = 0; p < ctxLen; p++) {
      for (let j = 0; j < half; j++) {
        [cos[p * half + j], sin[p * half + j]] = [
          Math.cos(p * invFreq[j]!),
          Math.sin(p * invFreq[j]!),
        ];
      }
    }
    const q = randomArray(rng, tokens * qHeads * hd);
    const k = randomArray(rng, tokens * kvHeads * hd);
    const v = randomArray(rng, tokens * kvHeads * hd);
    const qkv = pack(tokens, [q, k, v]);
    const row = (qHeads + 2 * kvHeads) * hd;
    const qkvBuffer = f32Buffer(ctx.gpu, qkv);
    const seq = uploadArray(
      ctx.gpu.device,
      Uint32Array.from({ length: 2 * tokens }, (_, i) => i % 2 ? start + (i >> 1) : 0),
      "seq",
    );
    const launch = ctx.ops.rope(qkvBuffer, f32Buffer(ctx.gpu, cos), f32Buffer(ctx.gpu, sin), seq, {
      qHeads,
      kvHeads,
      headDim: hd,
      row,
    });
    const got = await runLaunches(
      ctx,
      { start, tokens },
      [[launch, tokens]],
      qkvBuffer,
      qkv.length,
    );
    const [gotQ, gotK, gotV] = unpack(got, tokens, [qHeads * hd, kvHeads * hd, kvHeads * hd]);
    assertRelClose(
      gotQ!,
      ref.rope(q, tokens, qHeads, hd, start, invFreq),
      RTOL,
      `q ${tokens}x${qHeads}x${hd}`,
    );
    assertRelClose(
      gotK!,
      ref.rope(k, tokens, kvHeads, hd, start, invFreq),
      RTOL,
      `k ${tokens}x${kvHeads}x${hd}`,
    );
    assertRelClose(gotV!, v, 0, "v is left alone");
  }
});

Deno.test("rope_kv_write rotates q in place and writes the rotated k and v to each token's slot and position in the cache", async () => {
  const ctx = await testGpu();
  const rng = seeded(15);
  const cases: [number, number, number, number, number][] = [
    [1, 4, 2, 16, 9],
    [5, 3, 1, 8, 0],
    [3, 8, 8, 128, 40],
  ];
  for (const [tokens, qHeads, kvHeads, hd, start] of cases) {
    const [half, slots, context] = [hd / 2, 3, start + tokens + 4];
    const invFreq = Array.from({ length: half }, (_, j) => 1 / 500000 ** ((2 * j) / hd));
    const cos = new Float32Array(context * half);
    const sin = new Float32Array(context * half);
    for (let p = 0; p < context; p++) {
      for (let j = 0; j < half; j++) {
        [cos[p * half + j], sin[p * half + j]] = [
          Math.cos(p * invFreq[j]!),
          Math.sin(p * invFreq[j]!),
        ];
      }
    }
    const [q, k, v] = [qHeads, kvHeads, kvHeads].map((h) => randomArray(rng, tokens * h * hd));
    const qkv = f32Buffer(ctx.gpu, pack(tokens, [q!, k!, v!]));
    const kvDim = kvHeads * hd;
    const caches = {
      k: nanBuffer(ctx.gpu, slots * context * kvDim),
      v: nanBuffer(ctx.gpu, slots * context * kvDim),
    };
    // Token t is in slot 2 at position start + t.
    const seq = uploadArray(
      ctx.gpu.device,
      Uint32Array.from({ length: 2 * tokens }, (_, i) => i % 2 ? start + (i >> 1) : 2),
      "seq",
    );
    const launch = ctx.ops.ropeKvWrite(
      qkv,
      f32Buffer(ctx.gpu, cos),
      f32Buffer(ctx.gpu, sin),
      seq,
      caches,
      {
        qHeads,
        kvHeads,
        headDim: hd,
        row: (qHeads + 2 * kvHeads) * hd,
        context,
      },
    );
    const row = (qHeads + 2 * kvHeads) * hd;
    const got = await runLaunches(ctx, { start, tokens }, [[launch, tokens]], qkv, tokens * row);
    const [gotQ] = unpack(got, tokens, [qHeads * hd, kvHeads * hd, kvHeads * hd]);
    const label = `${tokens}×${qHeads}/${kvHeads}×${hd}`;
    assertRelClose(gotQ!, ref.rope(q!, tokens, qHeads, hd, start, invFreq), RTOL, `q ${label}`);
    const at = (2 * context + start) * kvDim; // slot 2, the first token's position
    const kCache = new Float32Array(
      await readBuffer(ctx.gpu.device, caches.k, slots * context * kvDim * 4),
    );
    const vCache = new Float32Array(
      await readBuffer(ctx.gpu.device, caches.v, slots * context * kvDim * 4),
    );
    assertRelClose(
      kCache.subarray(at, at + tokens * kvDim),
      ref.rope(k!, tokens, kvHeads, hd, start, invFreq),
      RTOL,
      `k ${label}`,
    );
    assertEquals([...vCache.subarray(at, at + tokens * kvDim)], [...v!], `v ${label}`);
    assert(kCache.subarray(0, at).every(Number.isNaN), "nothing else is written");
  }
});

Deno.test("rope_kv_write + attention: causal grouped-query attention over the cache", async () => {
  const ctx0 = await testGpu();
  // The adapter's own workgroup sizes, and a GPU's (64 threads, 256-key splits) on any adapter:
  // decode attention's key lanes, split counts and combine differ between them.
  const wide = { ...ctx0.gpu.workgroups, attention: 64, attentionSplit: 256 };
  for (const ctx of [ctx0, { gpu: ctx0.gpu, ops: new Ops({ ...ctx0.gpu, workgroups: wide }) }]) {
    await attentionCases(ctx);
  }
});

async function attentionCases(ctx: { gpu: Gpu; ops: Ops }) {
  const rng = seeded(9);
  // [tokens, start, heads, kvHeads, hd]: decode at long context, prefill with GQA, odd sizes, hd 256.
  // Decode (1 token) splits the context in slices of 256 keys (GPU sizes): 1, 2 and 3 of them,
  // some empty; of 2048 / group keys (software): 1 or 2.
  const cases: [number, number, number, number, number][] = [
    [1, 0, 1, 1, 8],
    [5, 0, 4, 2, 16],
    [1, 300, 8, 2, 64],
    [1, 700, 4, 1, 128],
    [1, 255, 2, 2, 256],
    [1, 300, 2, 1, 10], // head_dim not a multiple of 4: the one-workgroup-per-head path
    [13, 20, 6, 3, 10],
    [3, 40, 2, 1, 256],
    [37, 0, 3, 3, 8],
    [2, 520, 8, 1, 32], // a group of 8 query heads per kv head, 3 splits
    // Prompt chunks (more tokens than rows): the tiled kernel, blocks of 64 / group tokens.
    [70, 30, 8, 2, 64], // 5 blocks, tiles of 16 keys not aligned to the start
    [130, 0, 4, 4, 128], // head_dim 128: tiles of 8 keys
    [40, 100, 12, 4, 64], // 3 query heads per kv head: 21 tokens a block, one idle thread
    [21, 3, 16, 2, 64], // 8 query heads per kv head: 8 tokens a block, a partial last tile
    [9, 0, 8, 2, 128], // 4 heads of 128: 16 tokens a block, one block part-filled
    [12, 5, 9, 1, 8], // 9 query heads per kv head: 7 tokens a block, one idle thread
  ];
  for (const [tokens, start, heads, kvHeads, hd] of cases) {
    const kvDim = kvHeads * hd;
    const total = start + tokens;
    const kAll = randomArray(rng, total * kvDim, 2);
    const vAll = randomArray(rng, total * kvDim);
    const q = randomArray(rng, tokens * heads * hd, 2);
    // The cache already holds positions < start; this step writes start..start+tokens-1.
    const kCache = f32Buffer(ctx.gpu, Float32Array.from(kAll).fill(NaN, start * kvDim));
    const vCache = f32Buffer(ctx.gpu, Float32Array.from(vAll).fill(NaN, start * kvDim));
    // This step's q | k | v, packed per token as the qkv projection writes them.
    const qkv = f32Buffer(
      ctx.gpu,
      pack(tokens, [q, kAll.subarray(start * kvDim), vAll.subarray(start * kvDim)]),
    );
    const row = heads * hd + 2 * kvDim;
    const out = nanBuffer(ctx.gpu, tokens * heads * hd);
    const scale = 1 / Math.sqrt(hd);
    const seq = uploadArray(
      ctx.gpu.device,
      Uint32Array.from({ length: 2 * tokens }, (_, i) => i % 2 ? start + (i >> 1) : 0),
      "seq",
    );
    // Rotation by cos 1, sin 0 leaves q and k as they are: only the cache write is tested here.
    const ones = f32Buffer(ctx.gpu, new Float32Array((total + 300) * hd / 2).fill(1));
    const zeros = f32Buffer(ctx.gpu, new Float32Array((total + 300) * hd / 2));
    const write = ctx.ops.ropeKvWrite(qkv, ones, zeros, seq, { k: kCache, v: vCache }, {
      qHeads: heads,
      kvHeads,
      headDim: hd,
      row,
      context: total + 300,
    });
    const attend = ctx.ops.attention(qkv, kCache, vCache, out, seq, {
      qHeads: heads,
      kvHeads,
      headDim: hd,
      scale,
      context: total + 300,
      qRow: row,
      rows: 4,
    });
    const got = await runLaunches(
      ctx,
      { start, tokens },
      [[write, tokens], [attend, tokens]],
      out,
      tokens * heads * hd,
    );
    const expected = ref.attention(q, kAll, vAll, { tokens, start, heads, kvHeads, hd, scale });
    assertRelClose(
      got,
      expected,
      RTOL,
      `attention T=${tokens} start=${start} H=${heads}/${kvHeads} hd=${hd}`,
    );
  }
}

Deno.test("silu_mul computes silu(gate)·up from packed rows, extreme gates included", async () => {
  const ctx = await testGpu();
  const rng = seeded(2);
  const [tokens, width] = [3, 1001];
  const gate = randomArray(rng, tokens * width, 8);
  gate.set([-100, 100, 0, -88.8, 89]);
  const up = randomArray(rng, tokens * width);
  const h = nanBuffer(ctx.gpu, tokens * width);
  const launch = ctx.ops.siluMul(f32Buffer(ctx.gpu, pack(tokens, [gate, up])), h, { width });
  const got = await runLaunches(ctx, { start: 0, tokens }, [[launch, tokens]], h, gate.length);
  assertRelClose(got, ref.siluMul(gate, up), RTOL, "silu_mul");
});

/** Rows of several [tokens, width_i] arrays side by side: [tokens, Σ width_i]. */
function pack(tokens: number, parts: Float32Array[]): Float32Array {
  const widths = parts.map((p) => p.length / tokens);
  const row = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(tokens * row);
  for (let t = 0; t < tokens; t++) {
    let col = 0;
    parts.forEach((p, i) => {
      out.set(p.subarray(t * widths[i]!, (t + 1) * widths[i]!), t * row + col);
      col += widths[i]!;
    });
  }
  return out;
}

/** The inverse of {@linkcode pack}. */
function unpack(packed: Float32Array, tokens: number, widths: number[]): Float32Array[] {
  const row = widths.reduce((a, b) => a + b, 0);
  return widths.map((w, i) => {
    const col = widths.slice(0, i).reduce((a, b) => a + b, 0);
    const out = new Float32Array(tokens * w);
    for (let t = 0; t < tokens; t++) {
      out.set(packed.subarray(t * row + col, t * row + col + w), t * w);
    }
    return out;
  });
}

Deno.test("read bandwidth kernels read every word they are meant to (XOR of their output)", async () => {
  const { gpu } = await testGpu();
  const rng = seeded(77);
  const vec4s = 100_003; // not a multiple of anything
  const words = Uint32Array.from({ length: vec4s * 4 }, () => Math.floor(rng() * 2 ** 32));
  const src = uploadArray(gpu.device, words, "src");
  const workgroups = 5;
  for (const run of strategies(gpu)) {
    const wg = gpu.workgroups.matvec;
    const out = uploadArray(gpu.device, new Uint32Array(workgroups * wg), "out");
    const launch = run.ops.readAll(src, vec4s * 16, out, workgroups);
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    launch.record(pass, 0);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    const got = new Uint32Array(await readBuffer(gpu.device, out, workgroups * wg * 4));
    // "split" reads all; "rows" reads 8 equal streams per invocation and leaves the remainder.
    const read = run.name === "split"
      ? vec4s
      : 8 * workgroups * wg * Math.floor(vec4s / (8 * workgroups * wg));
    let expected = 0;
    for (let i = 0; i < read * 4; i++) expected ^= words[i]!;
    assertEquals(got.reduce((a, b) => a ^ b, 0) >>> 0, expected >>> 0, run.name);
  }
});

for (const source of ["f32", "f16"] as const) {
  Deno.test(`convert_bf16_${source} rounds to nearest even, keeps NaN a NaN, overflows to infinity`, async () => {
    const ctx = await testGpu();
    const rng = seeded(88);
    const special = new Float32Array(
      new Uint32Array([
        0x00000000,
        0x80000000,
        0x7f800000,
        0xff800000, // ±0, ±∞
        0x7f7fffff,
        0x00000001,
        0x807fffff, // largest finite (→ ∞), smallest subnormals
        0x3f808000,
        0x3f818000,
        0x3f808001,
        0x3f807fff, // ties to even (down, up) and near ties
        0x7f800001,
        0xffc00000,
        0x7fbfffff, // NaNs
      ]).buffer,
    );
    const random = Float32Array.from(
      { length: 994 },
      (_, i) => (rng() * 2 - 1) * 2 ** (Math.floor(rng() * 60) - 30) * (i % 7 ? 1 : 1e30),
    );
    const all = Float32Array.from([...special, ...random]); // 1008 = 126 rows of 8
    const input = encode(source, all); // f16 keeps only what it can hold (±∞ beyond its range)
    const rows = all.length / 8;
    const staged = uploadArray(ctx.gpu.device, new Uint32Array(input.bytes.buffer), "staged");
    const { buffer } = ctx.ops.packer("bf16", source)(staged, { rows, cols: 8, stride: 8 }, "w");
    const got = new Uint16Array(await readBuffer(ctx.gpu.device, buffer, all.length * 2));
    const want = new Uint16Array(toBf16(Float32Array.from(input.values)).bytes.buffer);
    input.values.forEach((v, i) => {
      if (Number.isNaN(v)) {
        assert((got[i]! & 0x7f80) === 0x7f80 && (got[i]! & 0x7f) !== 0, `NaN ${i}: ${got[i]}`);
      } else assertEquals(got[i], want[i], `${v} (element ${i})`);
    });
  });
}
