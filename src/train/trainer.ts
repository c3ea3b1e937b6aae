/**
 * The training loop: batches drawn through the data in a seeded order per pass (epoch), gradient
 * accumulation, the learning-rate schedule, evaluation and checkpoints. Its position (step, pass,
 * cursor) is all a resumed run needs to draw the same batches next.
 * @module
 */
import { packBatch, type PackedBatch, type Sequence } from "./batch.ts";
import { mulberry32 } from "./random.ts";
import { lrFactor, type ScheduleName } from "./schedule.ts";
import type { OptimizerSettings, StepResult, TrainableLlama } from "./trainable.ts";

/** How to train. */
export interface TrainingPlan {
  /** Sequences per micro-batch, micro-batches per optimizer step. */
  batchSize: number;
  accumulate: number;
  /** Optimizer steps to reach (counting those a resumed run already took). */
  totalSteps: number;
  shuffle: boolean;
  seed: number;
  schedule: ScheduleName;
  warmup: number;
  optimizer: OptimizerSettings;
}

/** Where a run stands: steps taken, the pass over the data and the next sequence in its order. */
export interface Position {
  step: number;
  epoch: number;
  cursor: number;
}

/** Where a run ended, and the step whose loss or gradient norm was not finite if that ended it. */
export interface TrainingEnd {
  /** The position reached: after the last step that changed the weights when one was not finite. */
  at: Position;
  nonFinite?: { step: number; loss: number; gradNorm: number };
}

/** What the loop reports and asks. */
export interface TrainingHooks {
  /**
   * After each step, with the position reached (a checkpoint saved then resumes from it); a step
   * that was not `applied` (its loss or norm was not finite) changed no weight.
   */
  onStep?(
    r: StepResult & { step: number; lr: number; seconds: number },
    at: Position,
  ): void | Promise<void>;
  /** Called after each step; true stops the loop (e.g. Ctrl-C), after that step. */
  shouldStop?(): boolean;
}

/** The number of optimizer steps in `epochs` passes over `sequences` sequences. */
export function stepsForEpochs(
  sequences: number,
  plan: { batchSize: number; accumulate: number },
  epochs: number,
) {
  return Math.ceil(Math.ceil(sequences / plan.batchSize) / plan.accumulate) * epochs;
}

/** The order of pass `epoch` over n sequences: shuffled by (seed, epoch), or file order. */
export function passOrder(
  n: number,
  epoch: number,
  plan: { shuffle: boolean; seed: number },
): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  if (!plan.shuffle) return order;
  const next = mulberry32((plan.seed * 0x9e3779b1 + epoch * 0x85ebca6b) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Trains `model` from `at` until `plan.totalSteps` (or a stop); returns the position reached.
 * A pass's last micro-batch holds what is left of it, and its last step the micro-batches left;
 * the next pass starts a new order. A step
 * whose loss or gradient norm is not finite changes nothing and ends the run at the position
 * before it, unless `skipNonFinite`: then the run goes on past it.
 */
export async function train(
  model: TrainableLlama,
  data: readonly Sequence[],
  plan: TrainingPlan,
  at: Position,
  hooks: TrainingHooks = {},
  options: { skipNonFinite?: boolean } = {},
): Promise<TrainingEnd> {
  const pos = { ...at };
  let order = passOrder(data.length, pos.epoch, plan);
  const vocab = model.config.vocabSize;
  const nextBatch = (): PackedBatch => {
    if (pos.cursor >= data.length) {
      pos.epoch++;
      pos.cursor = 0;
      order = passOrder(data.length, pos.epoch, plan);
    }
    const picked = order.slice(pos.cursor, pos.cursor + plan.batchSize);
    pos.cursor += picked.length;
    return packBatch(picked.map((i) => data[i]!), vocab, `training sequences ${picked.join(", ")}`);
  };
  while (pos.step < plan.totalSteps) {
    const before = { ...pos };
    const t0 = performance.now();
    // Up to `accumulate` micro-batches, never past the end of a pass: as Hugging Face's Trainer,
    // a pass whose micro-batches do not divide evenly ends with a shorter step.
    const batches = [nextBatch()];
    while (batches.length < plan.accumulate && pos.cursor < data.length) batches.push(nextBatch());
    const lr = plan.optimizer.lr *
      lrFactor(plan.schedule, pos.step, { warmup: plan.warmup, total: plan.totalSteps });
    const r = await model.trainStep(batches, { ...plan.optimizer, lr });
    pos.step++;
    await hooks.onStep?.({ ...r, step: pos.step, lr, seconds: (performance.now() - t0) / 1000 }, {
      ...pos,
    });
    if (!r.applied && !options.skipNonFinite) {
      return { at: before, nonFinite: { step: pos.step, loss: r.loss, gradNorm: r.gradNorm } };
    }
    if (hooks.shouldStop?.()) break;
  }
  return { at: pos };
}
