import type { PackedBatch, Sequence } from "../../src/train/batch.ts";
import { stepsForEpochs, train, type TrainingPlan } from "../../src/train/trainer.ts";
import type { TrainableLlama } from "../../src/train/trainable.ts";
import { assertEquals } from "../_assert.ts";

/** A stand-in that records the sequences (by first id) of each step's micro-batches. */
function recorder() {
  const steps: number[][][] = [];
  const model = {
    config: { vocabSize: 100 },
    trainStep(batches: readonly PackedBatch[]) {
      steps.push(batches.map((b) => Array.from(b.ids).filter((_, i) => b.seq[2 * i + 1] === 0)));
      return Promise.resolve({ loss: 1, gradNorm: 1, counted: 1, tokens: 1, applied: true });
    },
  } as unknown as TrainableLlama;
  return { model, steps };
}

Deno.test("a pass whose micro-batches do not divide by --accumulate ends with a shorter step, as Hugging Face's Trainer", async () => {
  // 7 sequences, batch 2: 4 micro-batches a pass ([0,1] [2,3] [4,5] [6]); accumulate 3 → steps of
  // 3 and 1 micro-batches; every sequence once per pass.
  const data: Sequence[] = Array.from({ length: 7 }, (_, i) => ({ inputIds: [10 + i, 50] }));
  const plan: TrainingPlan = {
    batchSize: 2,
    accumulate: 3,
    totalSteps: stepsForEpochs(7, { batchSize: 2, accumulate: 3 }, 2),
    shuffle: false,
    seed: 0,
    schedule: "constant",
    warmup: 0,
    optimizer: { lr: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
  };
  assertEquals(plan.totalSteps, 4);
  const { model, steps } = recorder();
  const end = await train(model, data, plan, { step: 0, epoch: 0, cursor: 0 });
  const pass = [[[10, 11], [12, 13], [14, 15]], [[16]]];
  assertEquals(steps, [...pass, ...pass]);
  assertEquals(end.at, { step: 4, epoch: 1, cursor: 7 });
});
