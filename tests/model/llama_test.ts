import { openCheckpoint } from "../../src/model/checkpoint.ts";
import { Llama } from "../../src/model/llama.ts";
import { loadModel } from "../../src/model/load.ts";
import { GREEDY } from "../../src/generate/sampling.ts";
import type { PackFormat } from "../../src/gpu/buffers.ts";
import { assert, assertEquals, assertRelClose } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";
import { argmax, fixture, goldens, MODELS } from "../_fixtures.ts";
import * as ref from "../_reference.ts";

/** The fixtures' bound for a float32 engine against the float64 goldens, per position. */
const GOLDEN_RTOL = 1e-4;
/** Incremental decoding vs one prefill: same f32 math in a different order. */
const INCREMENTAL_RTOL = 1e-5;

async function load(
  name: string,
  options: { prefillChunk?: number; slots?: number; weights?: PackFormat } = {},
) {
  const { gpu } = await testGpu();
  const ckpt = openCheckpoint(fixture(name));
  try {
    return await Llama.load(ckpt, gpu, options);
  } finally {
    ckpt.close(); // the GPU holds its own copy; the map is no longer needed
  }
}

for (const name of MODELS) {
  Deno.test(`Llama ${name}: logits of every golden sequence match per position`, async () => {
    const model = await load(name);
    const g = goldens(name);
    for (const s of g.sequences) {
      model.reset();
      const got = await model.logits(s.ids, 0);
      const want = g.logits(s);
      const V = model.config.vocabSize;
      const [P] = s.logits_shape;
      const first = s.positions === "all" ? 0 : s.ids.length - P;
      for (let p = 0; p < P; p++) {
        const row = got.subarray((first + p) * V, (first + p + 1) * V);
        assertRelClose(
          row,
          want.subarray(p * V, (p + 1) * V),
          GOLDEN_RTOL,
          `${name} ${s.name} position ${first + p}`,
        );
      }
    }
  });

  Deno.test(`Llama ${name}: greedy continuations equal the goldens`, async () => {
    const model = await load(name);
    for (const s of goldens(name).sequences) {
      model.reset();
      const out: number[] = [];
      let logits = await model.lastLogits(s.ids, 0);
      while (out.length < s.greedy.length) {
        out.push(argmax(logits));
        logits = await model.lastLogits([out.at(-1)!]);
      }
      assertEquals(out, s.greedy, `${name} ${s.name}`);
    }
  });
}

Deno.test("Llama: the built-in model read whole (as from a compiled binary's embedded files) matches its goldens", async () => {
  const { gpu } = await testGpu();
  const { model } = await loadModel("stories-260k", { gpu, read: true });
  const g = goldens("stories-260k");
  for (const s of g.sequences) {
    model.reset();
    const got = await model.logits(s.ids, 0);
    assertRelClose(got, g.logits(s), GOLDEN_RTOL, s.name);
  }
  model.dispose();
});

Deno.test("Llama: prefill(N) equals prefill(N−k) + k single-token steps, across chunk boundaries", async () => {
  const model = await load("tiny-bf16-tied", { prefillChunk: 16 });
  const ids = goldens("tiny-bf16-tied").sequences.find((s) => s.ids.length === 64)!.ids;
  const whole = await model.lastLogits(ids, 0);
  for (const k of [1, 5]) {
    model.reset();
    let logits = await model.lastLogits(ids.slice(0, ids.length - k), 0);
    for (const id of ids.slice(ids.length - k)) logits = await model.lastLogits([id]);
    assertRelClose(logits, whole, INCREMENTAL_RTOL, `k=${k}`);
  }
  model.truncate(10); // rewinding reuses the cache prefix
  const again = await model.lastLogits(ids.slice(10));
  assertRelClose(again, whole, INCREMENTAL_RTOL, "truncate(10) + rest");
});

for (const weights of ["bf16", "q8", "q5", "q4"] as const) {
  Deno.test(`Llama --weights ${weights}: decode steps (matvec) equal one prefill (matmul) of the same packed weights`, async () => {
    // tiny-f32: rows shorter than the intermediate size's last group; the f32 → bf16 path for bf16.
    const model = await load("tiny-f32", { weights });
    const ids = goldens("tiny-f32").sequences.find((s) => s.ids.length === 64)!.ids;
    const whole = await model.lastLogits(ids, 0);
    model.reset();
    let logits = await model.lastLogits(ids.slice(0, ids.length - 4), 0);
    for (const id of ids.slice(ids.length - 4)) logits = await model.lastLogits([id]);
    assertRelClose(logits, whole, INCREMENTAL_RTOL, weights);
    model.dispose();
    // …and the packing took place: the logits moved away from the stored weights' ones.
    const stored = await load("tiny-f32");
    const reference = await stored.lastLogits(ids, 0);
    stored.dispose();
    const moved = Math.max(...whole.map((v, i) => Math.abs(v - reference[i]!)));
    assert(moved > 1e-3, `${weights}: max logit change ${moved}`);
  });
}

Deno.test("Llama.decode(): GPU-resident batches equal step-by-step decoding, greedy and sampled", async () => {
  const model = await load("tiny-llama3-vocab");
  const s = goldens("tiny-llama3-vocab").sequences[2]!;
  for (
    const sampling of [GREEDY, {
      ...GREEDY,
      temperature: 0.9,
      topK: 40,
      topP: 0.95,
      repetitionPenalty: 1.2,
      seed: 3,
    }]
  ) {
    model.reset();
    model.setSampling(sampling);
    const stepwise = [await model.step(s.ids, 0)];
    while (stepwise.length < 20) stepwise.push(await model.step([stepwise.at(-1)!]));
    const cached = model.tokens.slice();
    model.reset();
    const batched = [await model.step(s.ids, 0)];
    for (const n of [1, 5, 13]) batched.push(...await model.decode(batched.at(-1)!, n));
    assertEquals(batched, stepwise, `temperature ${sampling.temperature}`);
    assertEquals(model.tokens, cached, "the cache holds the same tokens");
    if (sampling.temperature === 0) assertEquals(batched.slice(0, 20), s.greedy.slice(0, 20));
  }
  model.truncate(s.ids.length + 3); // roll back past a (pretend) terminator and go on
  assertEquals(model.tokens.length, s.ids.length + 3);
});

Deno.test("Llama.decodeRows(): batched greedy decoding equals each sequence alone, prompts of different lengths", async () => {
  const name = "tiny-f16-rope-scaled";
  const model = await load(name, { slots: 3 });
  const sequences = [
    goldens(name).sequences[0]!,
    goldens(name).sequences[2]!,
    goldens(name).sequences[1]!,
  ];
  // Prefill every slot, then decode all three together; the goldens are each sequence alone.
  const last = await Promise.all(
    [0, 1, 2].map(async (slot) => await model.step(sequences[slot]!.ids, 0, slot)),
  );
  const out = last.map((id) => [id]);
  while (out[0]!.length < 12) {
    const rows = [0, 1, 2].map((slot) => ({ slot, id: out[slot]!.at(-1)! }));
    const steps = out[0]!.length === 1 ? 1 : 5;
    const ids = await model.decodeRows(rows, steps);
    ids.forEach((row, slot) => out[slot]!.push(...row));
  }
  sequences.forEach((s, slot) =>
    assertEquals(
      out[slot]!.slice(0, 12),
      s.greedy.slice(0, 12),
      `slot ${slot} (${s.ids.length} prompt tokens)`,
    )
  );
  assertEquals(model.tokensOf(1).length, sequences[1]!.ids.length + 11);
  // Padding-free: the slots are independent; another sequence in slot 2 changes nothing for slot 0.
  model.truncate(0, 2);
  const again = await model.step(sequences[0]!.ids.slice(0, 1), 0, 2);
  assertEquals(again, sequences[0]!.greedy[0]);
});

Deno.test("Engine on 3 slots: 6 prompts of 1–600 tokens, greedy and sampled, each as if alone", async () => {
  const { Engine } = await import("../../src/generate/engine.ts");
  const { generate } = await import("../../src/generate/generate.ts");
  const name = "tiny-f16-rope-scaled";
  const sequences = goldens(name).sequences;
  const batched = await load(name, { slots: 3 });
  const alone = await load(name);
  const sampled = {
    ...GREEDY,
    temperature: 0.8,
    topK: 50,
    topP: 0.95,
    repetitionPenalty: 1.1,
    seed: 11,
  };
  const requests = sequences.map((s, i) => ({
    promptIds: s.ids,
    sampling: i % 2 ? sampled : GREEDY,
    maxTokens: 8 + i,
  }));
  const common = {
    terminators: new Set<number>(),
    decode: (ids: readonly number[]) => ids.join(" "),
  };
  const engine = new Engine(batched, common);
  const results = await Promise.all(requests.map((r) => engine.submit(r)));
  for (const [i, r] of requests.entries()) {
    alone.reset();
    const single = await generate(alone, r.promptIds, {
      ...common,
      sampling: r.sampling,
      maxTokens: r.maxTokens,
    });
    assertEquals(
      results[i]!.tokens,
      single.tokens,
      `request ${i} (${r.promptIds.length} prompt tokens)`,
    );
    if (r.sampling === GREEDY) {
      assertEquals(results[i]!.tokens, sequences[i]!.greedy.slice(0, r.maxTokens));
    }
  }
});

Deno.test("Llama.decodeRows(): logits of every row of batches of 1 and 8 match the sequence alone", async () => {
  const name = "tiny-bf16-tied";
  const all = goldens(name).sequences;
  const batched = await load(name, { slots: 8 });
  const alone = await load(name);
  const V = batched.config.vocabSize;
  for (const B of [1, 8]) {
    batched.reset();
    const prompts = Array.from(
      { length: B },
      (_, b) => all[b % all.length]!.ids.slice(0, 1 + (b * 7) % 60),
    );
    const firsts = await Promise.all(prompts.map((p, slot) => batched.step(p, 0, slot)));
    await batched.decodeRows(prompts.map((_, slot) => ({ slot, id: firsts[slot]! })), 1);
    const rows = await batched.readLogits(B);
    for (const [b, p] of prompts.entries()) {
      alone.reset();
      const want = await alone.lastLogits([...p, firsts[b]!], 0);
      assertRelClose(
        rows.subarray(b * V, (b + 1) * V),
        want,
        GOLDEN_RTOL,
        `batch ${B} row ${b} (${p.length} prompt tokens)`,
      );
    }
  }
});

Deno.test("decodeRows: a sequence's logits are bitwise the same alone and in a batch of sequences of other lengths (stored and bf16 weights)", async () => {
  const cases = [["tiny-f16-rope-scaled", undefined], ["stories-260k", undefined], [
    "stories-260k",
    "bf16",
  ]] as const;
  for (const [name, weights] of cases) {
    const seqs = goldens(name).sequences.filter((s) => s.ids.length >= 8).slice(0, 5)
      .map((s, i) => s.ids.slice(0, 8 + 3 * i));
    const alone = await load(name, { weights });
    const batched = await load(name, { slots: seqs.length, weights });
    const V = alone.config.vocabSize;
    for (const [b, ids] of seqs.entries()) await batched.step(ids.slice(0, -1), 0, b);
    await batched.decodeRows(seqs.map((ids, b) => ({ slot: b, id: ids.at(-1)! })), 1);
    const rows = await batched.readLogits(seqs.length);
    for (const [b, ids] of seqs.entries()) {
      alone.reset();
      await alone.step(ids.slice(0, -1), 0);
      await alone.decodeRows([{ slot: 0, id: ids.at(-1)! }], 1);
      const mine = await alone.readLogits(1);
      const theirs = rows.subarray(b * V, (b + 1) * V);
      assert(
        mine.every((v, i) => Object.is(v, theirs[i])),
        `${name} (${
          weights ?? "stored"
        }): sequence ${b} (${ids.length} tokens) differs in a batch of ${seqs.length}`,
      );
    }
    alone.dispose();
    batched.dispose();
  }
});

Deno.test("copyPrefix: a slot given another's cached prompt continues it as if it had computed it", async () => {
  const name = "tiny-f16-rope-scaled";
  const model = await load(name, { slots: 3 });
  for (const s of goldens(name).sequences.filter((s) => s.ids.length >= 3)) {
    model.reset();
    const L = s.ids.length;
    await model.step(s.ids.slice(0, L - 1), 0, 2);
    model.copyPrefix(2, 0, L - 1);
    assertEquals(model.tokensOf(0), s.ids.slice(0, L - 1));
    const next = await model.step(s.ids.slice(L - 1), L - 1, 0);
    assertEquals(next, s.greedy[0], `${s.ids.length} tokens`);
  }
  model.dispose();
});

Deno.test("logprobs: each drawn token's and each scored prompt token's log-probability is log_softmax of the model's logits (1e-4), with its top tokens", async () => {
  for (const name of ["stories-260k", "tiny-llama3-vocab"]) {
    const model = await load(name, { slots: 2, prefillChunk: 8 });
    const V = model.config.vocabSize;
    const prompt = goldens(name).sequences.find((s) => s.ids.length >= 5)!.ids;
    const check = (
      got: { id: number; logprob: number; top: { id: number; logprob: number }[] },
      row: Float32Array,
      id: number,
      top: number,
      label: string,
    ) => {
      const want = ref.logprobs(row, id, top);
      assertEquals(got.id, id, label);
      assert(
        Math.abs(got.logprob - want.logprob) <= 1e-4,
        `${label}: ${got.logprob} vs ${want.logprob}`,
      );
      assertEquals(got.top.map((t) => t.id), want.top.map((t) => t.id), label);
      got.top.forEach((t, k) =>
        assert(Math.abs(t.logprob - want.top[k]!.logprob) <= 1e-4, `${label}: top ${k}`)
      );
    };
    // Drawn (sampled, so the pick is not simply the top token) in slot 1, 3 alternatives.
    model.setSampling({ ...GREEDY, temperature: 1.5, seed: 3 }, 1);
    model.setLogprobs(3, 1);
    const first = await model.step(prompt, 0, 1);
    const rest = (await model.decodeRows([{ slot: 1, id: first }], 5))[0]!;
    const drawn = [first, ...rest];
    const records = drawn.map((_, i) => model.logprobsAt(1, prompt.length + i));
    const all = [...prompt, ...drawn];
    const logits = await model.logits(all.slice(0, -1), 0); // slot 0, a fresh pass
    const row = (t: number) => logits.subarray(t * V, (t + 1) * V);
    drawn.forEach((id, i) =>
      check(records[i]!, row(prompt.length - 1 + i), id, 3, `${name} draw ${i}`)
    );
    // Scored: more tokens than a chunk of logit rows when the vocabulary is large.
    const scored = await model.scorePrompt(all, 5, 0);
    assertEquals(scored.length, all.length - 1);
    scored.forEach((s, t) => check(s, row(t), all[t + 1]!, 5, `${name} scored ${t + 1}`));
    assertEquals(model.tokensOf(0), all.slice(0, -1), "the prompt but its last token is cached");
    model.dispose();
  }
});
