/**
 * The training kernels on random inputs. Every gradient is checked against central finite
 * differences of a float64 forward (of L = Σ r ⊙ forward(inputs) for a random r), so the
 * references are the forward maths alone, not a second derivation of the backward.
 */
import { readBuffer, uploadArray } from "../../src/gpu/buffers.ts";
import { TrainOps } from "../../src/gpu/train_ops.ts";
import type { Step } from "../../src/gpu/train_ops.ts";
import { assert, assertRelClose } from "../_assert.ts";
import { f32Buffer, nanBuffer, testGpu } from "../_gpu.ts";
import { randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";

async function context() {
  const ctx = await testGpu();
  return { ...ctx, train: new TrainOps(ctx.gpu, ctx.ops.launcher) };
}

/** Records steps in one pass with `tokens` in the frame, submits, reads n f32 of each `outs`. */
async function run(
  ctx: Awaited<ReturnType<typeof context>>,
  tokens: number,
  steps: Step[],
  outs: [GPUBuffer, number][],
): Promise<Float32Array[]> {
  ctx.ops.setFrame(tokens);
  const encoder = ctx.gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const s of steps) s(pass);
  pass.end();
  ctx.gpu.device.queue.submit([encoder.finish()]);
  return await Promise.all(
    outs.map(async ([b, n]) => new Float32Array(await readBuffer(ctx.gpu.device, b, n * 4))),
  );
}

/** ∂/∂x_i of f at x by central differences in f64. */
function finiteDifferences(f: (x: Float64Array) => number, x: ArrayLike<number>): Float64Array {
  const at = Float64Array.from(x);
  return at.map((v, i) => {
    const h = 1e-6 * Math.max(1, Math.abs(v));
    at[i] = v + h;
    const up = f(at);
    at[i] = v - h;
    const down = f(at);
    at[i] = v;
    return (up - down) / (2 * h);
  });
}

/** Σ r ⊙ y. */
function project(r: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += r[i]! * y[i]!;
  return s;
}

Deno.test("gemm: forward x·Wᵀ, input gradient dy·W and weight gradient dyᵀ·x match the CPU", async () => {
  const ctx = await context();
  const rng = seeded(31);
  for (const [tokens, rows, cols] of [[1, 1, 1], [5, 7, 3], [9, 33, 18]] as const) {
    const s = { tokens, rows, cols };
    const x = randomArray(rng, tokens * cols);
    const w = randomArray(rng, rows * cols);
    const dy = randomArray(rng, tokens * rows);
    const before = randomArray(rng, rows * cols);
    const [xb, wb, dyb] = [f32Buffer(ctx.gpu, x), f32Buffer(ctx.gpu, w), f32Buffer(ctx.gpu, dy)];
    const y = nanBuffer(ctx.gpu, tokens * rows);
    const dx = nanBuffer(ctx.gpu, tokens * cols);
    const dw = f32Buffer(ctx.gpu, before);
    const [gy, gdx, gdw] = await run(ctx, tokens, [
      ctx.train.linear(xb, wb, y, s),
      ctx.train.linearGradInput(dyb, wb, dx, s),
      ctx.train.linearGradWeight(dyb, xb, dw, s),
    ], [[y, tokens * rows], [dx, tokens * cols], [dw, rows * cols]]);
    const wT = Float64Array.from(
      { length: rows * cols },
      (_, i) => w[(i % rows) * cols + ((i / rows) | 0)]!,
    );
    const dyT = Float64Array.from(
      { length: tokens * rows },
      (_, i) => dy[(i % tokens) * rows + ((i / tokens) | 0)]!,
    );
    const xT = Float64Array.from(
      { length: tokens * cols },
      (_, i) => x[(i % tokens) * cols + ((i / tokens) | 0)]!,
    );
    assertRelClose(gy!, ref.linear(x, w, tokens, rows, cols), 1e-6, `${tokens}×${rows}×${cols} y`);
    assertRelClose(gdx!, ref.linear(dy, wT, tokens, cols, rows), 1e-6, "dx");
    const dW = ref.linear(dyT, xT, rows, cols, tokens).map((v, i) => v + before[i]!);
    assertRelClose(gdw!, dW, 1e-6, "dW accumulates");
  }
});

/** Causal attention over packed rows, f64: out [T, H·hd] from qkv [T, row]. */
function packedAttention(
  qkv: ArrayLike<number>,
  first: number[],
  s: { tokens: number; qHeads: number; kvHeads: number; headDim: number; row: number },
): { out: Float64Array; lse: Float64Array } {
  const { tokens, qHeads, kvHeads, headDim: hd, row } = s;
  const out = new Float64Array(tokens * qHeads * hd);
  const lse = new Float64Array(tokens * qHeads);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < qHeads; h++) {
      const g = Math.floor(h / (qHeads / kvHeads));
      const scores: number[] = [];
      for (let j = first[t]!; j <= t; j++) {
        let dot = 0;
        for (let d = 0; d < hd; d++) {
          dot += qkv[t * row + h * hd + d]! * qkv[j * row + (qHeads + g) * hd + d]!;
        }
        scores.push(dot / Math.sqrt(hd));
      }
      const m = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - m));
      const sum = e.reduce((a, b) => a + b, 0);
      lse[t * qHeads + h] = m + Math.log(sum);
      for (let d = 0; d < hd; d++) {
        let a = 0;
        e.forEach((p, i) => a += p * qkv[(first[t]! + i) * row + (qHeads + kvHeads + g) * hd + d]!);
        out[(t * qHeads + h) * hd + d] = a / sum;
      }
    }
  }
  return { out, lse };
}

Deno.test("gemm with element offsets and a scale: a column slice of a wider C gets α·A·Bᵀ, the rest untouched", async () => {
  const ctx = await context();
  const rng = seeded(31);
  // A: rows of width 15 from element 3; B: [n, k] transposed (b_n = 1, b_k = n) from element 2;
  // C: columns 5..5+n of rows of width 17.
  const [m, n, k, alpha] = [9, 6, 13, 0.37];
  const a = randomArray(rng, 3 + m * 15, 1);
  const b = randomArray(rng, 2 + k * n, 1);
  const c0 = randomArray(rng, m * 17, 1);
  const c = f32Buffer(ctx.gpu, c0);
  const step = ctx.train.gemm(
    f32Buffer(ctx.gpu, a),
    f32Buffer(ctx.gpu, b),
    c,
    [m, n, k],
    [15, 1, 1, n, 17],
    true,
    [3, 2, 5],
    alpha,
  );
  const [got] = await run(ctx, 1, [step], [[c, m * 17]]);
  const want = Float64Array.from(c0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let q = 0; q < k; q++) sum += a[3 + i * 15 + q]! * b[2 + j + q * n]!;
      want[i * 17 + 5 + j]! += alpha * sum;
    }
  }
  assertRelClose(got!, want, 1e-6, "C");
});

Deno.test("dropout keeps each value by the hash of (seed, index), scaled by 1/(1 − p); the same seed replays the same mask, another draws another", async () => {
  const ctx = await context();
  const rng = seeded(33);
  const n = 5000;
  const x = randomArray(rng, n, 1);
  const pcg = (v: number) => {
    const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
    const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
    return ((word >>> 22) ^ word) >>> 0;
  };
  const masks: boolean[][] = [];
  for (const [p, seed] of [[0.3, 7], [0.3, 8], [0.05, 7]] as const) {
    const out = f32Buffer(ctx.gpu, new Float32Array(n).fill(1));
    const step = ctx.train.dropout(f32Buffer(ctx.gpu, x), out, { n, p, seed, accumulate: true });
    const [got] = await run(ctx, 1, [step], [[out, n]]);
    const drop = Math.floor(p * 2 ** 32);
    const scale = Math.fround(1 / (1 - p));
    const want = x.map((v, i) =>
      1 + ((pcg((pcg(seed) ^ i) >>> 0) >= drop) ? Math.fround(v * scale) : 0)
    );
    assertRelClose(got!, want, 1e-6, `p ${p}, seed ${seed}`);
    masks.push([...got!].map((v) => v !== 1));
    const kept = want.filter((v, i) => v !== 1 || x[i] === 0).length / n;
    assert(Math.abs(kept - (1 - p)) < 0.03, `kept ${kept} of the values at p ${p}`);
  }
  assert(masks[0]!.some((k, i) => k !== masks[1]![i]), "another seed, another mask");
});

Deno.test("attention_train and its gradients: packed causal rows, grouped heads, against finite differences", async () => {
  const ctx = await context();
  const rng = seeded(32);
  for (
    const [lengths, qHeads, kvHeads, headDim] of [[[4, 3], 4, 2, 8], [[1, 6], 2, 2, 4], [
      [5],
      3,
      1,
      16,
    ]] as const
  ) {
    const tokens = lengths.reduce((a, b) => a + b, 0);
    const row = (qHeads + 2 * kvHeads) * headDim;
    const s = { tokens, qHeads, kvHeads, headDim, row };
    const first: number[] = [];
    const spans: number[] = [];
    let at = 0;
    for (const n of lengths) {
      for (let i = 0; i < n; i++) (first.push(at), spans.push(at, at + n));
      at += n;
    }
    const qkv = randomArray(rng, tokens * row, 1.5);
    const r = randomArray(rng, tokens * qHeads * headDim);
    const qkvb = f32Buffer(ctx.gpu, qkv);
    const spansb = uploadArray(ctx.gpu.device, Uint32Array.from(spans), "spans");
    const out = nanBuffer(ctx.gpu, tokens * qHeads * headDim);
    const lse = nanBuffer(ctx.gpu, tokens * qHeads);
    const dqkv = nanBuffer(ctx.gpu, tokens * row);
    const [gOut, gLse, gGrad] = await run(ctx, tokens, [
      ctx.train.attention(qkvb, spansb, out, lse, s),
      ctx.train.attentionGrad(
        { qkv: qkvb, spans: spansb, out, lse },
        f32Buffer(ctx.gpu, r),
        nanBuffer(ctx.gpu, tokens * qHeads),
        dqkv,
        s,
      ),
    ], [[out, tokens * qHeads * headDim], [lse, tokens * qHeads], [dqkv, tokens * row]]);
    const want = packedAttention(qkv, first, s);
    const name = `rows ${lengths} heads ${qHeads}/${kvHeads} hd ${headDim}`;
    assertRelClose(gOut!, want.out, 1e-5, `${name} out`);
    assertRelClose(gLse!, want.lse, 1e-5, `${name} lse`);
    const fd = finiteDifferences((x) => project(r, packedAttention(x, first, s).out), qkv);
    assertRelClose(gGrad!, fd, 1e-4, `${name} dq, dk, dv`);
  }
});

Deno.test("rmsnorm_grad: input gradient (added to the residual's) and weight gradient against finite differences", async () => {
  const ctx = await context();
  const rng = seeded(33);
  for (const [tokens, dim] of [[1, 4], [6, 37], [3, 300]] as const) {
    const x = randomArray(rng, tokens * dim, 2);
    const w = randomArray(rng, dim);
    const r = randomArray(rng, tokens * dim);
    const dxBefore = randomArray(rng, tokens * dim);
    const dwBefore = randomArray(rng, dim);
    const eps = 1e-5;
    const dx = f32Buffer(ctx.gpu, dxBefore);
    const dw = f32Buffer(ctx.gpu, dwBefore);
    const [gdx, gdw] = await run(ctx, tokens, [ctx.train.rmsnormGrad({
      x: f32Buffer(ctx.gpu, x),
      w: f32Buffer(ctx.gpu, w),
      dy: f32Buffer(ctx.gpu, r),
      dx,
      dw,
      rstd: nanBuffer(ctx.gpu, tokens),
    }, { tokens, dim, eps, accumulate: true })], [[dx, tokens * dim], [dw, dim]]);
    const fdx = finiteDifferences((v) => project(r, ref.rmsnorm(v, w, tokens, dim, eps)), x);
    const fdw = finiteDifferences((v) => project(r, ref.rmsnorm(x, v, tokens, dim, eps)), w);
    assertRelClose(gdx!, fdx.map((v, i) => v + dxBefore[i]!), 1e-5, `${tokens}×${dim} dx`);
    assertRelClose(gdw!, fdw.map((v, i) => v + dwBefore[i]!), 1e-5, `${tokens}×${dim} dw`);
  }
});

Deno.test("silu_mul_grad: the gate and up gradients against finite differences", async () => {
  const ctx = await context();
  const rng = seeded(34);
  const [tokens, width] = [5, 13];
  const gateUp = randomArray(rng, tokens * 2 * width, 6);
  const r = randomArray(rng, tokens * width);
  const out = nanBuffer(ctx.gpu, tokens * 2 * width);
  const [got] = await run(ctx, tokens, [
    ctx.train.siluMulGrad(f32Buffer(ctx.gpu, gateUp), f32Buffer(ctx.gpu, r), out, {
      tokens,
      width,
    }),
  ], [[out, tokens * 2 * width]]);
  const forward = (v: ArrayLike<number>) => {
    const y = new Float64Array(tokens * width);
    for (let t = 0; t < tokens; t++) {
      for (let i = 0; i < width; i++) {
        const g = v[t * 2 * width + i]!;
        y[t * width + i] = g / (1 + Math.exp(-g)) * v[t * 2 * width + width + i]!;
      }
    }
    return y;
  };
  assertRelClose(
    got!,
    finiteDifferences((v) => project(r, forward(v)), gateUp),
    1e-5,
    "d[gate|up]",
  );
});

Deno.test("cross_entropy_grad: per-row loss and the mean loss's gradient, ignored rows zero", async () => {
  const ctx = await context();
  const rng = seeded(35);
  for (const [rows, vocab, scale] of [[4, 11, 3], [3, 1000, 10]] as const) {
    const logits = randomArray(rng, rows * vocab, scale);
    const targets = Array.from(
      { length: rows },
      (_, i) => i === 1 ? -100 : Math.floor(rng() * vocab),
    );
    const counted = targets.filter((t) => t >= 0).length;
    const lb = f32Buffer(ctx.gpu, logits);
    const nll = nanBuffer(ctx.gpu, rows);
    const [grad, gotNll] = await run(ctx, rows, [ctx.train.crossEntropyGrad(
      lb,
      uploadArray(ctx.gpu.device, Uint32Array.from(targets, (t) => t < 0 ? 0xffffffff : t), "t"),
      nll,
      { tokens: rows, vocab, scale: 1 / counted },
    )], [[lb, rows * vocab], [nll, rows]]);
    const mean = (v: ArrayLike<number>) =>
      ref.crossEntropy(Float64Array.from(v), targets, vocab).reduce((a, b) => a + b, 0) / counted;
    assertRelClose(gotNll!, ref.crossEntropy(logits, targets, vocab), 1e-5, `${rows}×${vocab} nll`);
    assertRelClose(grad!, finiteDifferences(mean, logits), 1e-5, `${rows}×${vocab} dlogits`);
  }
});

Deno.test("embedding_grad: scatter-adds each token's gradient into its id's row", async () => {
  const ctx = await context();
  const rng = seeded(36);
  const [vocab, dim] = [9, 5];
  const ids = [3, 0, 3, 8, 3, 0];
  const r = randomArray(rng, ids.length * dim);
  const before = randomArray(rng, vocab * dim);
  const distinct = [...new Set(ids)];
  const order = distinct.flatMap((id) => ids.flatMap((v, t) => v === id ? [t] : []));
  const offsets = [0];
  for (const id of distinct) offsets.push(offsets.at(-1)! + ids.filter((v) => v === id).length);
  const u32 = (a: number[]) => uploadArray(ctx.gpu.device, Uint32Array.from(a), "u32");
  const table = f32Buffer(ctx.gpu, before);
  const [got] = await run(ctx, ids.length, [ctx.train.embeddingGrad(
    { ids: u32(distinct), offsets: u32(offsets), order: u32(order), count: distinct.length },
    f32Buffer(ctx.gpu, r),
    table,
    dim,
  )], [[table, vocab * dim]]);
  const lookup = (t: ArrayLike<number>) =>
    Float64Array.from(
      { length: ids.length * dim },
      (_, i) => t[ids[(i / dim) | 0]! * dim + i % dim]!,
    );
  const fd = finiteDifferences((t) => project(r, lookup(t)), before);
  assertRelClose(got!, fd.map((v, i) => v + before[i]!), 1e-6, "dtable");
});

Deno.test("rope with inverse: the gradient of a rotation is the inverse rotation", async () => {
  const ctx = await context();
  const rng = seeded(37);
  const [tokens, qHeads, kvHeads, headDim] = [3, 2, 1, 8];
  const row = (qHeads + 2 * kvHeads) * headDim;
  const half = headDim / 2;
  const context_ = 8;
  const invFreq = Array.from({ length: half }, (_, j) => 1 / 10000 ** (2 * j / headDim));
  const cos = new Float32Array(context_ * half);
  const sin = new Float32Array(context_ * half);
  for (let p = 0; p < context_; p++) {
    for (let j = 0; j < half; j++) {
      cos[p * half + j] = Math.cos(p * invFreq[j]!);
      sin[p * half + j] = Math.sin(p * invFreq[j]!);
    }
  }
  const positions = [2, 5, 7];
  const seq = uploadArray(
    ctx.gpu.device,
    Uint32Array.from(positions.flatMap((p) => [0, p])),
    "seq",
  );
  const r = randomArray(rng, tokens * row);
  const buffer = f32Buffer(ctx.gpu, r);
  const launch = ctx.ops.rope(buffer, f32Buffer(ctx.gpu, cos), f32Buffer(ctx.gpu, sin), seq, {
    qHeads,
    kvHeads,
    headDim,
    row,
    inverse: true,
  });
  const [got] = await run(ctx, tokens, [(pass) => launch.record(pass, tokens)], [[
    buffer,
    tokens * row,
  ]]);
  // Forward: rotate the q and k heads of each row at its position (v passes through).
  const forward = (x: ArrayLike<number>) => {
    const y = Float64Array.from(x);
    for (let t = 0; t < tokens; t++) {
      const heads = Array.from({ length: (qHeads + kvHeads) * headDim }, (_, i) => x[t * row + i]!);
      const rotated = ref.rope(heads, 1, qHeads + kvHeads, headDim, positions[t]!, invFreq);
      rotated.forEach((v, i) => y[t * row + i] = v);
    }
    return y;
  };
  const x = randomArray(rng, tokens * row);
  assertRelClose(
    got!,
    finiteDifferences((v) => project(r, forward(v)), x),
    1e-5,
    "inverse rotation",
  );
});

Deno.test("adamw: three steps with clipping and weight decay match torch.optim.AdamW in f64", async () => {
  const ctx = await context();
  const rng = seeded(38);
  const n = 1000;
  const p0 = randomArray(rng, n);
  const [p, m, v] = [
    f32Buffer(ctx.gpu, p0),
    f32Buffer(ctx.gpu, new Float32Array(n)),
    f32Buffer(ctx.gpu, new Float32Array(n)),
  ];
  const want = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
  const [lr, beta1, beta2, eps, weightDecay] = [0.01, 0.9, 0.95, 1e-8, 0.1];
  for (let step = 1; step <= 3; step++) {
    const grad = randomArray(rng, n, step);
    const gradScale = step === 2 ? 0.25 : 1;
    const adam = ctx.train.adamw({ grad: f32Buffer(ctx.gpu, grad), p, m, v, n });
    const [bc1, bc2] = [1 - beta1 ** step, 1 - beta2 ** step];
    adam.set({ lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale });
    await run(ctx, 0, [adam.record], []);
    adam.destroy();
    for (let i = 0; i < n; i++) {
      const g = grad[i]! * gradScale;
      want.p[i]! *= 1 - lr * weightDecay;
      want.m[i] = beta1 * want.m[i]! + (1 - beta1) * g;
      want.v[i] = beta2 * want.v[i]! + (1 - beta2) * g * g;
      want.p[i]! -= (lr / bc1) * want.m[i]! / (Math.sqrt(want.v[i]!) / Math.sqrt(bc2) + eps);
    }
  }
  const [gp, gm, gv] = await run(ctx, 0, [], [[p, n], [m, n], [v, n]]);
  assertRelClose(gp!, want.p, 1e-6, "p");
  assertRelClose(gm!, want.m, 1e-6, "m");
  assertRelClose(gv!, want.v, 1e-6, "v");
});

Deno.test("square_sum: partial sums of squares over slices add up to Σ x²", async () => {
  const ctx = await context();
  const rng = seeded(39);
  for (const n of [1, 5000, 70001]) {
    const x = randomArray(rng, n, 3);
    const slices = ctx.train.squareSumSlices(n);
    const partials = nanBuffer(ctx.gpu, slices + 2);
    const [got] = await run(ctx, 0, [ctx.train.squareSum(f32Buffer(ctx.gpu, x), n, partials, 2)], [[
      partials,
      slices + 2,
    ]]);
    const sum = got!.slice(2).reduce((a, b) => a + b, 0);
    assertRelClose([sum], [x.reduce((a, b) => a + b * b, 0)], 1e-5, `n ${n}`);
  }
});
