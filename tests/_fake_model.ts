/** A CPU stand-in for the GPU model: logits come from a script, tokens are drawn by the reference sampler. */
import type { CausalLM } from "../src/generate/generate.ts";
import type { TokenLogprobs } from "../src/model/logprobs.ts";
import * as ref from "./_reference.ts";
import { GREEDY, sampleToken, type SamplingParams } from "../src/generate/sampling.ts";

/** Logits for the next position given the tokens so far. */
export type Script = (history: readonly number[]) => Float32Array;

/**
 * A scripted causal LM with `slots` sequences, each with its own cache and sampling, that records
 * how many tokens each step computed.
 */
export class FakeModel implements CausalLM {
  readonly config: { vocabSize: number };
  readonly computed: number[] = []; // tokens computed per step call
  decodeCalls = 0;
  /** The most rows one decodeRows call took. */
  mostRows = 0;
  readonly #caches: number[][];
  readonly #sampling: SamplingParams[];
  readonly #top: (number | undefined)[];
  readonly #masks: (Uint32Array | undefined)[];
  /** Steps taken with a mask on (a constrained draw). */
  maskedSteps = 0;
  /** Log-probability records by "slot/position", as the GPU's ring holds them. */
  readonly #records = new Map<string, TokenLogprobs>();

  constructor(
    vocabSize: number,
    readonly script: Script,
    readonly contextLength = 1 << 20,
    readonly slots = 1,
  ) {
    this.config = { vocabSize };
    this.#caches = Array.from({ length: slots }, () => []);
    this.#sampling = Array.from({ length: slots }, () => GREEDY);
    this.#top = new Array(slots).fill(undefined);
    this.#masks = new Array(slots).fill(undefined);
  }

  /** Slot 0's cached tokens. */
  get tokens(): readonly number[] {
    return this.#caches[0]!;
  }

  tokensOf(slot: number): readonly number[] {
    return this.#caches[slot]!;
  }

  setSampling(p: SamplingParams, slot = 0): void {
    this.#sampling[slot] = p;
  }

  step(ids: readonly number[], start?: number, slot = 0): Promise<number> {
    const cache = this.#caches[slot]!;
    if (start !== undefined && start !== cache.length) {
      throw new Error(`step at ${start} with ${cache.length} cached`);
    }
    if (cache.length + ids.length > this.contextLength) throw new Error("context overflow");
    cache.push(...ids);
    this.computed.push(ids.length);
    const logits = this.script(cache);
    const mask = this.#masks[slot];
    if (mask) this.maskedSteps++;
    const id = sampleToken(logits, new Set(cache), this.#sampling[slot]!, cache.length, mask);
    const top = this.#top[slot];
    if (top !== undefined) this.#records.set(`${slot}/${cache.length}`, record(logits, id, top));
    return Promise.resolve(id);
  }

  setMask(slot: number, allowed: Uint32Array<ArrayBuffer> | undefined): void {
    this.#masks[slot] = allowed;
  }

  setLogprobs(top: number | undefined, slot: number): void {
    this.#top[slot] = top;
  }

  logprobsAt(slot: number, position: number): TokenLogprobs {
    const r = this.#records.get(`${slot}/${position}`);
    if (!r) throw new Error(`no logprobs recorded at ${slot}/${position}`);
    return r;
  }

  scorePrompt(ids: readonly number[], top: number, slot: number): Promise<TokenLogprobs[]> {
    this.#caches[slot] = ids.slice(0, -1);
    this.computed.push(ids.length - 1);
    return Promise.resolve(
      ids.slice(1).map((id, t) => record(this.script(ids.slice(0, t + 1)), id, top)),
    );
  }

  /** Batched decoding as the GPU does it: feed, sample, feed the sample, … (last sample not fed). */
  async decodeRows(rows: readonly { slot: number; id: number }[], steps = 1): Promise<number[][]> {
    this.decodeCalls++;
    this.mostRows = Math.max(this.mostRows, rows.length);
    const out: number[][] = [];
    for (const { slot, id } of rows) {
      const ids: number[] = [];
      let next = id;
      for (let i = 0; i < steps; i++) ids.push(next = await this.step([next], undefined, slot));
      out.push(ids);
    }
    return out;
  }

  truncate(n: number, slot = 0): void {
    const cache = this.#caches[slot]!;
    cache.length = Math.min(n, cache.length);
  }

  /** Counts the copies (positions computed nowhere). */
  copied = 0;

  copyPrefix(from: number, to: number, n: number): void {
    this.#caches[to] = this.#caches[from]!.slice(0, n);
    this.copied += n;
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

function record(logits: Float32Array, id: number, top: number): TokenLogprobs {
  return { id, ...ref.logprobs(logits, id, top) };
}
