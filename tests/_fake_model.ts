/** A CPU stand-in for the GPU model: logits come from a script, tokens are drawn by the reference sampler. */
import type { CausalLM } from "../src/generate/generate.ts";
import { GREEDY, sampleToken, type SamplingParams } from "../src/generate/sampling.ts";

/** Logits for the next position given the tokens so far. */
export type Script = (history: readonly number[]) => Float32Array;

/** A scripted causal LM that records how many tokens each step computed. */
export class FakeModel implements CausalLM {
  readonly config: { vocabSize: number };
  readonly tokens: number[] = [];
  readonly computed: number[] = []; // tokens computed per step call
  decodeCalls = 0;
  #sampling: SamplingParams = GREEDY;

  constructor(vocabSize: number, readonly script: Script, readonly contextLength = 1 << 20) {
    this.config = { vocabSize };
  }

  setSampling(p: SamplingParams): void {
    this.#sampling = p;
  }

  step(ids: readonly number[], start = this.tokens.length): Promise<number> {
    if (start !== this.tokens.length) {
      throw new Error(`step at ${start} with ${this.tokens.length} cached`);
    }
    if (start + ids.length > this.contextLength) throw new Error("context overflow");
    this.tokens.push(...ids);
    this.computed.push(ids.length);
    const logits = this.script(this.tokens);
    return Promise.resolve(
      sampleToken(logits, new Set(this.tokens), this.#sampling, this.tokens.length),
    );
  }

  /** Batched decoding as the GPU does it: feed, sample, feed the sample, … (last sample not fed). */
  async decode(first: number, steps: number): Promise<number[]> {
    this.decodeCalls++;
    const out: number[] = [];
    let id = first;
    for (let i = 0; i < steps; i++) out.push(id = await this.step([id]));
    return out;
  }

  truncate(n: number): void {
    this.tokens.length = Math.min(n, this.tokens.length);
  }
}

/** A script that emits `ids` in order after the prompt (one-hot logits), then repeats the last. */
export function emitting(vocab: number, promptLength: () => number, ids: number[]): Script {
  return (history) => {
    const logits = new Float32Array(vocab);
    const next = ids[Math.min(history.length - promptLength(), ids.length - 1)]!;
    logits[next] = 10;
    return logits;
  };
}
