import { readBuffer, uploadArray } from "../../src/gpu/buffers.ts";
import { LOGPROB_RECORD, MAX_LOGPROBS } from "../../src/gpu/ops.ts";
import { assert, assertEquals } from "../_assert.ts";
import { f32Buffer, testGpu } from "../_gpu.ts";
import { randomArray, seeded } from "../_random.ts";
import * as ref from "../_reference.ts";

const RING = 8;
const SLOTS = 2;
const UNWRITTEN = 0xdeadbeef;

/** A record's fields (see kernels/logprobs.wgsl). */
function parse(words: Uint32Array, record: number) {
  const at = record * LOGPROB_RECORD;
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  const n = words[at + 2]!;
  return {
    target: words[at]!,
    logprob: f[at + 1]!,
    n,
    top: Array.from({ length: n }, (_, k) => ({
      id: words[at + 3 + 2 * k]!,
      logprob: f[at + 4 + 2 * k]!,
    })),
  };
}

/** The record against the float64 reference: ids exactly, log-probabilities to 1e-4. */
function check(
  got: ReturnType<typeof parse>,
  row: Float32Array,
  target: number,
  top: number,
  label: string,
) {
  const want = ref.logprobs(row, target, Math.min(top, row.length));
  assertEquals(got.target, target, label);
  assert(
    Math.abs(got.logprob - want.logprob) <= 1e-4,
    `${label}: ${got.logprob} vs ${want.logprob}`,
  );
  assertEquals(got.top.map((t) => t.id), want.top.map((t) => t.id), `${label}: top ids`);
  for (const [k, t] of got.top.entries()) {
    assert(
      Math.abs(t.logprob - want.top[k]!.logprob) <= 1e-4,
      `${label}: top ${k}: ${t.logprob} vs ${want.top[k]!.logprob}`,
    );
  }
}

Deno.test("logprobs: log_softmax of each row's target and its top tokens (lower id first on ties), scored and after sampling", async () => {
  const ctx = await testGpu();
  const { device } = ctx.gpu;
  const rng = seeded(21);
  const vocabs = [
    { vocab: 5 }, // fewer tokens than the top asked
    { vocab: 1000 },
    { vocab: 4099, ties: true },
    { vocab: 128256 },
  ];
  for (const { vocab, ties } of vocabs) {
    const rows = 3;
    const logits = randomArray(rng, rows * vocab, 6);
    // Steps of 1/2: many tokens share each value, so the order among equals is tested.
    if (ties) logits.forEach((v, i) => logits[i] = Math.round(v * 2) / 2);
    const row = (r: number) => logits.subarray(r * vocab, (r + 1) * vocab);
    const targets = Array.from({ length: rows }, () => Math.floor(rng() * vocab));
    const ids = uploadArray(device, Uint32Array.from(targets), "ids");
    const targetBuffer = uploadArray(device, Uint32Array.from(targets).reverse(), "targets");
    // Row 0 is slot 1's pick at position 13, row 1 slot 0's at 6 (logprobs off), row 2 slot 0's.
    const seq = uploadArray(device, Uint32Array.of(1, 13, 0, 6, 0, 9), "seq");
    const settings = uploadArray(device, new Uint32Array(SLOTS * 12), "settings");
    const records = SLOTS * RING + rows;
    const out = uploadArray(
      device,
      new Uint32Array(records * LOGPROB_RECORD).fill(UNWRITTEN),
      "out",
    );
    const lp = ctx.ops.logprobs(f32Buffer(ctx.gpu, logits), {
      ids,
      seq,
      settings,
      targets: targetBuffer,
      out,
      ringLength: RING,
      slots: SLOTS,
    }, vocab);
    const run = async (launch: { record(p: GPUComputePassEncoder, n: number): void }) => {
      ctx.ops.setFrame(rows);
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      launch.record(pass, rows);
      pass.end();
      device.queue.submit([enc.finish()]);
      return new Uint32Array(await readBuffer(device, out, records * LOGPROB_RECORD * 4));
    };
    for (const top of [0, 1, 5, MAX_LOGPROBS]) {
      const words = await run(lp.score(top));
      const want = [...targets].reverse();
      for (let r = 0; r < rows; r++) {
        check(
          parse(words, lp.first + r),
          row(r),
          want[r]!,
          top,
          `V=${vocab} score top ${top} row ${r}`,
        );
      }
    }
    lp.setTop(1, 3);
    const words = await run(lp.decode);
    check(parse(words, 1 * RING + 13 % RING), row(0), targets[0]!, 3, `V=${vocab} decode`);
    assertEquals(words[(0 * RING + 6) * LOGPROB_RECORD], UNWRITTEN, "a slot with logprobs off");
    assertEquals(
      words[(0 * RING + 9 % RING) * LOGPROB_RECORD],
      UNWRITTEN,
      "a slot with logprobs off",
    );
    lp.setTop(0, MAX_LOGPROBS);
    const again = await run(lp.decode);
    check(parse(again, 6), row(1), targets[1]!, MAX_LOGPROBS, `V=${vocab} decode, slot 0`);
    check(parse(again, 9 % RING), row(2), targets[2]!, MAX_LOGPROBS, `V=${vocab} decode, slot 0`);
    for (const b of [ids, targetBuffer, seq, settings, out]) b.destroy();
  }
});
