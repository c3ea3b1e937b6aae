/** The shared fixtures' models and their goldens (see tests/fixtures/README.md). */

/** Folder of a fixture model (the trained stories-260k is the built-in model in models/). */
export const fixture = (name: string) =>
  new URL(name === "stories-260k" ? `../models/${name}` : `./fixtures/${name}`, import.meta.url)
    .pathname;

/** The five random fixture models and the trained built-in one. */
export const MODELS = [
  "tiny-f32",
  "tiny-bf16-tied",
  "tiny-f16-rope-scaled",
  "tiny-sharded",
  "tiny-llama3-vocab",
  "stories-260k",
];

/** One golden sequence. */
export interface GoldenSequence {
  name: string;
  ids: number[];
  greedy: number[];
  logits_file: string;
  logits_shape: [number, number];
  positions: "all" | "last";
}

/** A model's goldens, with a loader for each sequence's logits. */
export function goldens(
  model: string,
): { sequences: GoldenSequence[]; logits(s: GoldenSequence): Float32Array } {
  const dir = new URL(`./fixtures/${model}/goldens`, import.meta.url).pathname;
  const json = JSON.parse(Deno.readTextFileSync(`${dir}/goldens.json`));
  return {
    sequences: json.sequences,
    logits: (s) => new Float32Array(Deno.readFileSync(`${dir}/${s.logits_file}`).buffer),
  };
}

/** Index of the largest value. */
export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
