import { generate } from "../../src/generate/generate.ts";
import {
  drawUniform,
  sampleToken,
  type SamplingParams,
  tokenProbabilities,
} from "../../src/generate/sampling.ts";
import { assert, assertEquals } from "../_assert.ts";
import { FakeModel } from "../_fake_model.ts";

/** Known logits over 8 tokens: log-probabilities of a fixed, uneven distribution. */
const LOGITS = Float32Array.from([3, 2.5, 2, 1.5, 1, 0.5, 0, -1]);
const BASE: SamplingParams = {
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  seed: 1,
};
const N = 20000;

/** Empirical frequencies of N draws at positions 0..N-1. */
function frequencies(p: SamplingParams, seen = new Set<number>()): number[] {
  const counts = new Array(LOGITS.length).fill(0);
  for (let pos = 0; pos < N; pos++) counts[sampleToken(LOGITS, seen, p, pos)]++;
  return counts.map((c) => c / N);
}

/** Every frequency within 4.5 standard errors of its probability (false-failure odds < 1e-4). */
function assertMatches(freq: number[], probs: Float64Array, label: string) {
  probs.forEach((q, i) => {
    const se = Math.sqrt(Math.max(q * (1 - q), 1e-12) / N);
    assert(
      Math.abs(freq[i]! - q) <= 4.5 * se + 1e-12,
      `${label}: token ${i} drawn ${freq[i]} vs p ${q}`,
    );
  });
}

const KNOBS: [string, Partial<SamplingParams>, (p: Float64Array) => void][] = [
  ["temperature 0.5 sharpens", { temperature: 0.5 }, (p) => assert(p[0]! > 0.55, `p0 ${p[0]}`)],
  ["temperature 2 flattens", { temperature: 2 }, (p) => assert(p[0]! < 0.3, `p0 ${p[0]}`)],
  [
    "top-k 3 keeps three",
    { topK: 3 },
    (p) => assertEquals(p.map((v) => (v > 0 ? 1 : 0)).join(""), "11100000"),
  ],
  [
    "top-p 0.8 keeps the nucleus",
    { topP: 0.8 },
    (p) => assertEquals(p.map((v) => (v > 0 ? 1 : 0)).join(""), "11110000"),
  ],
  [
    "min-p 0.3 drops the unlikely",
    { minP: 0.3 },
    (p) => assertEquals(p.map((v) => (v > 0 ? 1 : 0)).join(""), "11100000"),
  ],
];

for (const [label, patch, check] of KNOBS) {
  Deno.test(`sampling: ${label}, and the draws follow the processed distribution`, () => {
    const p = { ...BASE, ...patch };
    const probs = tokenProbabilities(LOGITS, new Set(), p);
    check(probs);
    const base = tokenProbabilities(LOGITS, new Set(), BASE);
    assert(
      probs.some((v, i) => Math.abs(v - base[i]!) > 0.02),
      "the knob changes the distribution",
    );
    assertMatches(frequencies(p), probs, label);
  });
}

Deno.test("sampling: repetition penalty lowers seen tokens", () => {
  const p = { ...BASE, repetitionPenalty: 2 };
  const probs = tokenProbabilities(LOGITS, new Set([0]), p);
  assert(probs[0]! < tokenProbabilities(LOGITS, new Set(), BASE)[0]! / 2, `p0 ${probs[0]}`);
  assertMatches(frequencies(p, new Set([0])), probs, "penalty");
  assertEquals(sampleToken(LOGITS, new Set([0]), { ...p, temperature: 0 }, 0), 1);
});

Deno.test("sampling: the same seed reproduces a run, other seeds differ", async () => {
  const run = async (seed: number) => {
    const model = new FakeModel(8, () => LOGITS);
    const r = await generate(model, [0], {
      sampling: { ...BASE, seed },
      maxTokens: 30,
      terminators: new Set(),
      decode: (ids) => ids.join(" "),
    });
    return r.tokens.join(",");
  };
  assertEquals(await run(5), await run(5));
  const others = await Promise.all([6, 7, 8].map(run));
  assertEquals(new Set([await run(5), ...others]).size, 4, "four seeds, four different runs");
  assert(drawUniform(1, 0) !== drawUniform(2, 0));
});
