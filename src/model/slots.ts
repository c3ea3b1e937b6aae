/**
 * What each sequence slot's KV cache holds, on the host: the token ids position by position, and
 * the seen-token bits the repetition penalty reads on the GPU (uploaded when they change).
 * @module
 */

/** The token histories of a model's sequence slots. */
export class Slots {
  readonly #histories: number[][];
  /** Seen-token bits per slot. [slots, words] */
  readonly #seen: Uint32Array<ArrayBuffer>;
  readonly #words: number;

  /** `upload(slot, bits)` copies a slot's seen bits to the GPU. */
  constructor(
    readonly count: number,
    vocabSize: number,
    readonly upload: (slot: number, bits: Uint32Array<ArrayBuffer>, offset: number) => void,
  ) {
    this.#histories = Array.from({ length: count }, () => []);
    this.#words = Math.ceil(vocabSize / 32);
    this.#seen = new Uint32Array(count * this.#words);
  }

  /** Words of seen bits per slot. */
  get words(): number {
    return this.#words;
  }

  /** The ids a slot's cache holds. */
  tokens(slot: number): readonly number[] {
    return this.#histories[slot]!;
  }

  /** Records ids at start.. in a slot (forgetting what was there from start on). */
  remember(ids: ArrayLike<number>, start: number, slot: number): void {
    this.truncate(start, slot);
    const history = this.#histories[slot]!;
    const seen = this.#bits(slot);
    let changed = false;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      history.push(id);
      const bit = 1 << (id & 31);
      if (!(seen[id >>> 5]! & bit)) [seen[id >>> 5], changed] = [seen[id >>> 5]! | bit, true];
    }
    if (changed) this.#upload(slot);
  }

  /** Forgets a slot's positions ≥ n. */
  truncate(n: number, slot: number): void {
    const history = this.#histories[slot]!;
    if (n >= history.length) return;
    history.length = Math.max(0, n);
    const seen = this.#bits(slot);
    seen.fill(0);
    for (const id of history) seen[id >>> 5]! |= 1 << (id & 31);
    this.#upload(slot);
  }

  #bits(slot: number): Uint32Array<ArrayBuffer> {
    return this.#seen.subarray(slot * this.#words, (slot + 1) * this.#words);
  }

  #upload(slot: number): void {
    this.upload(slot, this.#seen, slot * this.#words);
  }
}
