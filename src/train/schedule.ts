/**
 * Learning-rate schedules as Hugging Face's `get_*_schedule_with_warmup` define them: the rate of
 * optimizer step s (from 0) is lr · λ(s), λ rising linearly from 0 over `warmup` steps, then
 * constant, falling linearly to 0 at `total`, or along half a cosine to 0 at `total`.
 * @module
 */

/** A schedule's name. */
export type ScheduleName = "constant" | "linear" | "cosine";

/** The multiplier λ(step) of the base learning rate. */
export function lrFactor(
  schedule: ScheduleName,
  step: number,
  o: { warmup: number; total: number },
): number {
  if (step < o.warmup) return step / Math.max(1, o.warmup);
  if (schedule === "constant") return 1;
  const progress = (step - o.warmup) / Math.max(1, o.total - o.warmup);
  if (schedule === "linear") return Math.max(0, 1 - progress);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
