import { IGNORE_INDEX, Llama } from "../../src/model/llama.ts";
import { openCheckpoint } from "../../src/model/checkpoint.ts";
import { perplexity, perplexityWindows } from "../../src/model/perplexity.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";
import { fixture, goldens } from "../_fixtures.ts";
import * as ref from "../_reference.ts";
import { InputError } from "../../src/errors.ts";

/** The bound: perplexity against the float64 goldens, relative. */
const GOLDEN_RTOL = 1e-4;

async function load(name: string, contextLength?: number) {
  const { gpu } = await testGpu();
  const ckpt = openCheckpoint(fixture(name));
  try {
    return await Llama.load(ckpt, gpu, contextLength ? { contextLength } : {});
  } finally {
    ckpt.close();
  }
}

/** Hugging Face's loop, transcribed: which token indices each window scores. */
function hfScored(n: number, ctx: number, stride: number): number[][] {
  const out: number[][] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < n; begin += stride) {
    const end = Math.min(begin + ctx, n);
    const trgLen = end - prevEnd;
    // labels[:, :-trg_len] = -100, then the model shifts: label j is predicted at j − 1, j ≥ 1.
    const scored = [];
    for (let j = 1; j < end - begin; j++) if (j >= end - begin - trgLen) scored.push(begin + j);
    out.push(scored);
    prevEnd = end;
    if (end === n) break;
  }
  return out;
}

Deno.test("perplexityWindows() scores what Hugging Face's sliding-window loop scores", () => {
  for (
    const [n, ctx, stride] of [[10, 4, 2], [10, 4, 4], [2, 2, 1], [175, 16, 5], [9, 9, 3], [
      8,
      64,
      64,
    ]]
  ) {
    const windows = perplexityWindows(n!, ctx!, stride!);
    const scored = windows.map((w) =>
      Array.from({ length: w.end - w.scoreFrom }, (_, i) => w.scoreFrom + i)
    );
    assertEquals(scored, hfScored(n!, ctx!, stride!), `n=${n} ctx=${ctx} stride=${stride}`);
    assert(windows.every((w) => w.end - w.begin <= ctx! && w.begin % stride! === 0));
    assertEquals(windows.at(-1)!.end, n);
  }
  assertThrows(() => perplexityWindows(10, 4, 5), RangeError);
});

Deno.test("perplexity of stories-260k equals the float64 goldens' cross-entropy to 1e-4", async () => {
  const g = goldens("stories-260k");
  const model = await load("stories-260k");
  for (const s of g.sequences.filter((s) => s.ids.length >= 2)) {
    const logits = g.logits(s);
    const targets = s.ids.map((_, t) => t + 1 < s.ids.length ? s.ids[t + 1]! : IGNORE_INDEX);
    const want = ref.crossEntropy(logits, targets, 512).reduce((a, b) => a + b, 0) /
      (s.ids.length - 1);
    const r = await perplexity(model, s.ids, { ctx: s.ids.length });
    assertEquals([r.tokens, r.windows], [s.ids.length - 1, 1]);
    const relErr = Math.abs(r.nll - want) / want;
    assert(relErr <= GOLDEN_RTOL, `${s.name}: nll ${r.nll} vs ${want} (rel ${relErr})`);
    assert(Math.abs(r.ppl - Math.exp(want)) / Math.exp(want) <= GOLDEN_RTOL, `${s.name} ppl`);
  }
});

Deno.test("perplexity with sliding windows equals each window's fresh logits, scored on the CPU", async () => {
  const ids = goldens("stories-260k").sequences.at(-1)!.ids; // 175 tokens
  const model = await load("stories-260k", 40);
  const [ctx, stride] = [40, 13];
  const r = await perplexity(model, ids, { ctx, stride });
  let sum = 0;
  let count = 0;
  for (const w of perplexityWindows(ids.length, ctx, stride)) {
    model.reset();
    const logits = await model.logits(ids.slice(w.begin, w.end), 0);
    const targets = ids.slice(w.begin, w.end).map((_, t) => {
      const next = w.begin + t + 1;
      return next >= w.scoreFrom && next < w.end ? ids[next]! : IGNORE_INDEX;
    });
    sum += ref.crossEntropy(logits, targets, 512).reduce((a, b) => a + b, 0);
    count += targets.filter((t) => t !== IGNORE_INDEX).length;
  }
  assertEquals([r.tokens, r.windows, r.ctx, r.stride], [count, 12, ctx, stride]);
  assert(Math.abs(r.nll - sum / count) <= 1e-5 * (sum / count), `${r.nll} vs ${sum / count}`);
  assert(r.tokensPerSecond > 0);
});

Deno.test("Llama.crossEntropy on a 128,256 vocabulary, across logit chunks, equals the CPU's", async () => {
  const model = await load("tiny-llama3-vocab", 600);
  const ids = Array.from({ length: 600 }, (_, i) => (i * 7919 + 13) % 128256);
  const targets = ids.map((_, t) =>
    t % 5 === 0 || t === ids.length - 1 ? IGNORE_INDEX : ids[t + 1]!
  );
  assert(600 > model.logitRows, "spans several chunks of logits");
  const got = await model.crossEntropy(ids, targets);
  model.reset();
  const logits = await model.logits(ids, 0);
  const want = ref.crossEntropy(logits, targets, 128256).reduce((a, b) => a + b, 0);
  assert(Math.abs(got - want) <= 1e-5 * want, `${got} vs ${want}`);
  await assertRejects(() => model.crossEntropy([1, 2], [1]), RangeError, "as many targets");
  await assertRejects(() => model.crossEntropy([1, 2], [2, 128256]), InputError, "128256");
});

Deno.test("perplexity() refuses a loss that is not finite (weights holding a NaN) instead of printing NaN", async () => {
  for (const bad of [NaN, Infinity]) {
    const model = { contextLength: 8, crossEntropy: () => Promise.resolve(bad) };
    await assertRejects(() => perplexity(model, [1, 2, 3, 4]), InputError, "not finite");
  }
});
