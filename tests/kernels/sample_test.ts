import { readBuffer, uploadArray } from "../../src/gpu/buffers.ts";
import { isAllowed, sampleToken, type SamplingParams } from "../../src/generate/sampling.ts";
import { assert, assertEquals } from "../_assert.ts";
import { f32Buffer, testGpu } from "../_gpu.ts";
import { randomArray, seeded } from "../_random.ts";

const RING = 16;
const BASE: SamplingParams = {
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  seed: 42,
};

/** Each case changes one processor, so a kernel that ignores it disagrees with the reference. */
const CASES: [string, Partial<SamplingParams>, "constrained"?][] = [
  ["greedy", { temperature: 0 }],
  ["greedy with repetition penalty", { temperature: 0, repetitionPenalty: 3 }],
  ["plain softmax", {}],
  ["hot temperature", { temperature: 2.5 }],
  ["top-k 5", { topK: 5 }],
  ["top-p 0.5", { topP: 0.5, temperature: 0.7 }],
  ["min-p 0.2", { minP: 0.2 }],
  ["all together", {
    topK: 40,
    topP: 0.9,
    minP: 0.05,
    temperature: 0.8,
    repetitionPenalty: 1.3,
    seed: 7,
  }],
  // Meta's defaults; top-k 50 with top-p over its survivors, after a repetition penalty.
  ["Llama 3 defaults", { topK: 50, topP: 0.9, temperature: 0.6, repetitionPenalty: 1.1 }],
  // More candidates than the kernel holds (512): the exact whole-vocabulary path.
  ["top-k 600", { topK: 600 }],
  ["top-p 0.999", { topP: 0.999, temperature: 3 }],
  // A grammar's mask: only every 7th token may come (the top token may not).
  ["greedy, constrained", { temperature: 0 }, "constrained"],
  ["plain softmax, constrained", {}, "constrained"],
  ["Llama 3 defaults, constrained", {
    topK: 50,
    topP: 0.9,
    temperature: 0.6,
    repetitionPenalty: 1.1,
  }, "constrained"],
];

/**
 * Vocabularies: random scores, scores with many ties, and Llama 3's size (fewer draws). One of
 * 1000 is one slice: greedy picks there in a single launch that scans the row itself.
 */
const VOCABS: { vocab: number; ties?: boolean; positions: number; cases?: string[] }[] = [
  { vocab: 1000, positions: 30 },
  { vocab: 4099, positions: 30 },
  { vocab: 4099, ties: true, positions: 30 },
  {
    vocab: 128256,
    positions: 8,
    cases: [
      "greedy",
      "plain softmax",
      "top-p 0.5",
      "Llama 3 defaults",
      "top-k 600",
      "plain softmax, constrained",
    ],
  },
  { vocab: 1000, ties: true, positions: 30 },
];

Deno.test("sample kernel draws exactly the CPU reference's token for each processor", async () => {
  const ctx = await testGpu();
  const rng = seeded(4);
  for (const { vocab, ties, positions, cases } of VOCABS) {
    const logits = randomArray(rng, vocab, 4);
    // Scores in steps of 1/4: hundreds of tokens share each value, the k-th's among them.
    if (ties) logits.forEach((v, i) => logits[i] = Math.round(v * 4) / 4);
    logits[17] = 5; // the top token, until the repetition penalty pushes it down
    const seenIds = [17, 3, 99, vocab - 1];
    const seenBits = new Uint32Array(Math.ceil(vocab / 32));
    for (const id of seenIds) seenBits[id >>> 5]! |= 1 << (id & 31);
    const logitsBuffer = f32Buffer(ctx.gpu, logits);
    const words = seenBits.length;
    const allowed = new Uint32Array(words);
    for (let id = 3; id < vocab; id += 7) allowed[id >>> 5]! |= 1 << (id & 31);
    for (const [label, patch, constrained] of CASES.filter(([l]) => !cases || cases.includes(l))) {
      const p = { ...BASE, ...patch };
      const seen = uploadArray(ctx.gpu.device, new Uint32Array(2 * words), "seen");
      const ring = uploadArray(ctx.gpu.device, new Uint32Array(RING).fill(0xffffffff), "ring");
      const seq = uploadArray(ctx.gpu.device, new Uint32Array(2), "seq");
      const ids = uploadArray(ctx.gpu.device, new Uint32Array(1), "ids");
      const settings = uploadArray(ctx.gpu.device, new Uint32Array(12), "settings");
      const { launch, set, setMask } = ctx.ops.sample(logitsBuffer, {
        seen,
        ring,
        ringLength: RING,
        seq,
        ids,
        settings,
        slots: 1,
      }, vocab);
      set(0, p);
      setMask(0, constrained ? allowed : undefined);
      const got: number[] = [];
      const want: number[] = [];
      for (let position = 10; position < 10 + positions; position++) {
        ctx.gpu.device.queue.writeBuffer(seen, 0, seenBits); // the kernel marks its pick; start fresh
        ctx.ops.setFrame(1);
        ctx.gpu.device.queue.writeBuffer(seq, 0, Uint32Array.of(0, position - 1)); // slot 0
        const enc = ctx.gpu.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        launch.record(pass, 1);
        pass.end();
        ctx.gpu.device.queue.submit([enc.finish()]);
        const pick = new Uint32Array(
          await readBuffer(ctx.gpu.device, ring, RING * 4),
        )[position % RING]!;
        got.push(pick);
        // The pick is also the next step's input, at the next position.
        assertEquals([...new Uint32Array(await readBuffer(ctx.gpu.device, ids, 4))], [pick]);
        assertEquals([...new Uint32Array(await readBuffer(ctx.gpu.device, seq, 8))], [0, position]);
        want.push(
          sampleToken(logits, new Set(seenIds), p, position, constrained ? allowed : undefined),
        );
        if (constrained) assert(isAllowed(allowed, pick), `${label}: ${pick} is not allowed`);
      }
      assertEquals(got, want, `${label}, V=${vocab}${ties ? " (ties)" : ""}`);
      const bits = new Uint32Array(await readBuffer(ctx.gpu.device, seen, seenBits.byteLength));
      const last = got.at(-1)!;
      assertEquals((bits[last >>> 5]! >>> (last & 31)) & 1, 1, "the pick is marked as seen");
      if (p.temperature > 0 && label !== "top-k 5" && !ties) {
        // Different positions draw different tokens (the test would pass for a constant otherwise).
        if (new Set(got).size < 2) throw new Error(`${label}: every draw gave ${got[0]}`);
      }
    }
  }
});
