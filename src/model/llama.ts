/**
 * `LlamaForCausalLM` on the GPU. Every step of {@linkcode Llama.forward} is one kernel launch
 * prepared at load (pipelines, bind groups, parameters), so a forward pass only records
 * dispatches into one compute pass and submits it once.
 *
 * Notation: T tokens this step, D hidden size, H query heads, Hkv kv heads, Hd head dim,
 * F intermediate size, V vocabulary, C prefill chunk (scratch rows), start = absolute position
 * of the first token.
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { readBuffer, storageBuffer } from "../gpu/buffers.ts";
import { type Launch, LOGPROB_RECORD, MAX_LOGPROBS } from "../gpu/ops.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { buildNetwork, type LoadOptions, type ModelSizes, type Network, RING } from "./network.ts";
import { GREEDY, type SamplingParams } from "./sampling_params.ts";
import { timeLaunches } from "./profile.ts";
import { Slots } from "./slots.ts";
import { readRecord, type TokenLogprobs } from "./logprobs.ts";

export type { LoadOptions } from "./network.ts";
export type { TokenLogprobs } from "./logprobs.ts";

/** A target that is not scored (Hugging Face's `ignore_index`). */
export const IGNORE_INDEX = -100;
/** How the loss kernel spells {@linkcode IGNORE_INDEX}. */
const IGNORED = 0xffffffff;

/** The loss of {@linkcode Llama.crossEntropy}: per-row NLL, summed into a total on the GPU. */
interface LossLaunches {
  targets: GPUBuffer; // u32 [logitRows]
  total: GPUBuffer; // f32 [1]
  nll: Launch;
  sum: Launch;
}

/** A loaded model's config and sizes ({@linkcode ModelSizes}) are its own fields. */
export interface Llama extends ModelSizes {}

/** A Llama model loaded on a GPU with its KV cache. */
export class Llama {
  /** Submits and readbacks since load (for the benchmark's per-token counts). */
  readonly counters = { submits: 0, readbacks: 0 };
  /** Token ids held in each sequence slot's KV cache, and their seen bits. */
  readonly #slots: Slots;
  readonly #loss: LossLaunches;

  /** The buffers and launches (network.ts). */
  readonly #net: Network;
  /** Slots that record log-probabilities, and the records of the last readback. */
  readonly #logprobSlots = new Set<number>();
  #records: Uint32Array | undefined;
  /** One slot's worth of KV rows, for {@linkcode Llama.copyPrefix} (made at its first use). */
  #staging: GPUBuffer | undefined;

  private constructor(net: Network, readonly gpu: Gpu) {
    this.#net = net;
    Object.assign(this, net.sizes); // the fields of ModelSizes, declared by the interface below
    this.#slots = new Slots(this.slots, this.config.vocabSize, (slot, bits, offset) => {
      const words = this.#slots.words;
      this.gpu.device.queue.writeBuffer(
        this.#net.sampler.seen,
        slot * words * 4,
        bits,
        offset,
        words,
      );
    });
    this.#loss = this.#lossLaunches();
  }

  /**
   * Bytes one decode step reads with `context` tokens cached: every matrix of the layers and
   * lm_head once (as stored on the GPU), the norms, and the cached keys and values.
   */
  decodeBytes(context: number): number {
    const c = this.config;
    return this.#net.weightBytesRead + 2 * c.numHiddenLayers * context * c.kvDim * 4;
  }

  /**
   * For benchmarks only: pretends the cache holds `n` tokens (id 0) without computing them, so
   * decoding at a long context can be timed without a long prefill. The cached values are junk.
   */
  assumeCached(n: number, slot = 0): void {
    if (n > this.contextLength) throw new RangeError(`assumeCached(${n}) is past the context`);
    const have = this.#slots.tokens(slot).length;
    this.#slots.remember(new Array(Math.max(0, n - have)).fill(0), have, slot);
  }

  /** Tokens currently held in slot 0's KV cache (positions 0..length-1). */
  get length(): number {
    return this.#slots.tokens(0).length;
  }

  /** The token ids in slot 0's KV cache. */
  get tokens(): readonly number[] {
    return this.#slots.tokens(0);
  }

  /** The token ids in a slot's KV cache. */
  tokensOf(slot: number): readonly number[] {
    return this.#slots.tokens(slot);
  }

  /** Uploads the checkpoint's weights and prepares every launch. */
  static async load(ckpt: Checkpoint, gpu: Gpu, options: LoadOptions = {}): Promise<Llama> {
    const model = new Llama(await buildNetwork(ckpt, gpu, options), gpu);
    for (let slot = 0; slot < model.slots; slot++) model.setSampling(GREEDY, slot);
    return model;
  }

  /**
   * Records and submits the network on `ids` at positions start..start+T-1 (T ≤ prefillChunk),
   * appending to the KV cache. Logits of the last position (or of all, when `allLogits`, with
   * T ≤ logitRows) stay on the GPU until read with {@linkcode Llama.readLogits}. With `sample`,
   * the next token is also drawn on the GPU (see {@linkcode Llama.setSampling}).
   */
  forward(
    ids: ArrayLike<number>,
    start: number,
    { allLogits = false, sample = false, slot = 0 } = {},
  ): void {
    const T = ids.length;
    this.#validate(ids, start, allLogits ? this.logitRows : this.prefillChunk, slot);
    this.#slots.remember(ids, start, slot);
    this.#net.ops.setFrame(T);
    this.gpu.device.queue.writeBuffer(this.#net.ids, 0, Uint32Array.from(ids));
    this.gpu.device.queue.writeBuffer(
      this.#net.seq,
      0,
      Uint32Array.from({ length: 2 * T }, (_, i) => i % 2 ? start + (i >> 1) : slot),
    );
    const encoder = this.gpu.device.createCommandEncoder({ label: "forward" });
    const pass = encoder.beginComputePass();
    const last = start + T - 1;
    this.#record(
      (launch, rows) => launch.record(pass, rows, last),
      T,
      allLogits,
      sample ? (allLogits ? T : 1) : 0,
    );
    pass.end();
    this.gpu.device.queue.submit([encoder.finish()]);
    this.counters.submits++;
  }

  /**
   * The network on T tokens, one line per kernel launch; each token's sequence slot and position
   * come from `seq`. With `sampleRows` > 0, the next token of each of the last that many rows is
   * drawn.
   */
  #record(
    record: (launch: Launch, rows: number) => void,
    T: number,
    allLogits: boolean,
    sampleRows: number,
  ): void {
    const { embed, layers, finalNormLast, lmHead, lmHeadLast } = this.#net.launches;
    const run = (launch: Launch, rows = T) => record(launch, rows);
    run(embed); //                 x = E[ids]                                  [T, D]
    for (const l of layers) {
      run(l.qkv); //                q | k | v = rmsnorm(x)·[Wq; Wk; Wv]ᵀ, q and k rotated by
      //                            position, cache[slot, pos] = k, v: in the product's store, or
      if (l.ropeKvWrite) run(l.ropeKvWrite); // in a launch of their own
      run(l.attention); //          att = softmax(q·Kᵀ/√Hd, causal)·V (GQA)     [T, H·Hd]
      run(l.oAdd); //               x += att·Woᵀ                                [T, D]
      run(l.gateUp); //             h = silu(xn·Wgᵀ) · (xn·Wuᵀ), xn = rmsnorm(x)  [T, F]
      run(l.downAdd); //            x += h·Wdᵀ                                  [T, D]
    }
    if (allLogits || T === 1) {
      run(lmHead); //               logits = rmsnorm(x)·Wlmᵀ                    [T, V]
    } else {
      run(finalNormLast); //        xn[0] = rmsnorm(x[T-1]) · w                 [1, D]
      run(lmHeadLast, 1); //        logits = xn[0]·Wlmᵀ                         [1, V]
    }
    if (sampleRows) run(this.#net.launches.sample, sampleRows); // ids, seq = next token of each row
    if (sampleRows && this.#logprobSlots.size) run(this.#net.logprobs.decode, sampleRows);
  }

  /**
   * Kernel dispatches of one decode step of `rows` sequences at position `position`, with the
   * slots' current sampling settings, counted by recording the plan into a pass that only counts:
   * the figure follows the plan, never a hand-kept table.
   */
  launchesPerStep(rows = 1, position = 0): number {
    let n = 0;
    const counter = {
      setPipeline() {},
      setBindGroup() {},
      dispatchWorkgroups() {
        n++;
      },
    } as unknown as GPUComputePassEncoder;
    this.#record((launch, r) => launch.record(counter, r, position), rows, true, rows);
    return n;
  }

  /** Sets how a slot's tokens are drawn (temperature 0 = greedy). */
  setSampling(p: SamplingParams, slot = 0): void {
    this.#net.sampler.set(slot, p);
  }

  /**
   * Constrains the next draw of `slot` to the tokens whose bits are set in `allowed` (bit i of
   * word i >> 5: a grammar's mask for one step); undefined lifts the constraint.
   */
  setMask(slot: number, allowed: Uint32Array<ArrayBuffer> | undefined): void {
    this.#net.sampler.setMask(slot, allowed);
  }

  /**
   * Records the log-probability of each token sampled in `slot`, with its `top` (≤ 20) most
   * likely alternatives, for {@linkcode Llama.logprobsAt}; undefined stops recording.
   */
  setLogprobs(top: number | undefined, slot = 0): void {
    if (top !== undefined && !(Number.isInteger(top) && top >= 0 && top <= MAX_LOGPROBS)) {
      throw new RangeError(`logprobs takes 0..${MAX_LOGPROBS} alternatives, got ${top}`);
    }
    this.#net.logprobs.setTop(slot, top);
    if (top === undefined) this.#logprobSlots.delete(slot);
    else this.#logprobSlots.add(slot);
  }

  /** The log-probabilities of the token sampled at `position` of `slot` (read with its id). */
  logprobsAt(slot: number, position: number): TokenLogprobs {
    if (!this.#logprobSlots.has(slot) || !this.#records) {
      throw new RangeError(`slot ${slot} records no logprobs`);
    }
    return readRecord(this.#records, slot * RING + position % RING);
  }

  /**
   * Runs `ids` into `slot` from position 0, all but the last (whose next token is the caller's
   * to draw), and returns the log-probability of each id after the first given those before
   * it, with the `top` most likely alternatives at its position. Only the records are read back.
   */
  async scorePrompt(ids: readonly number[], top: number, slot = 0): Promise<TokenLogprobs[]> {
    const { device } = this.gpu;
    const lp = this.#net.logprobs;
    const scored: TokenLogprobs[] = [];
    this.truncate(0, slot);
    for (let i = 0; i + 1 < ids.length; i += this.logitRows) {
      const chunk = ids.slice(i, Math.min(i + this.logitRows, ids.length - 1));
      this.forward(chunk, i, { allLogits: true, slot });
      device.queue.writeBuffer(
        lp.targets,
        0,
        Uint32Array.from(ids.slice(i + 1, i + 1 + chunk.length)),
      );
      const encoder = device.createCommandEncoder({ label: "score" });
      const pass = encoder.beginComputePass();
      lp.score(top).record(pass, chunk.length);
      pass.end();
      device.queue.submit([encoder.finish()]);
      this.counters.submits++;
      this.counters.readbacks++;
      const words = new Uint32Array(
        await readBuffer(device, lp.records, (lp.first + chunk.length) * LOGPROB_RECORD * 4),
      );
      for (let r = 0; r < chunk.length; r++) scored.push(readRecord(words, lp.first + r));
    }
    return scored;
  }

  /**
   * Runs `ids` from `start` (in chunks when long) and draws the next token on the GPU; only its
   * id is read back.
   */
  async step(ids: ArrayLike<number>, start?: number, slot = 0): Promise<number> {
    if (ids.length === 0) throw new InputError("Cannot run the model on zero tokens");
    const from = start ?? this.#slots.tokens(slot).length;
    const all = Array.from(ids);
    for (let i = 0; i < all.length; i += this.prefillChunk) {
      const chunk = all.slice(i, i + this.prefillChunk);
      this.forward(chunk, from + i, { sample: i + chunk.length === all.length, slot });
    }
    const ring = await this.#readRing();
    return ring[slot * RING + (from + all.length) % RING]!;
  }

  /**
   * Decodes one token for each of several sequences at once: row b feeds `rows[b].id` at the end
   * of slot `rows[b].slot`'s cache; every weight is read once for all rows (the linear layers run
   * as one matmul over the rows). `steps` steps run on the GPU with no host round trip, as in
   * {@linkcode Llama.decode}. Returns the sampled ids, [row][step]; all but each row's last are
   * now in its cache.
   */
  async decodeRows(rows: readonly { slot: number; id: number }[], steps = 1): Promise<number[][]> {
    const B = rows.length;
    if (!(B >= 1 && B <= Math.min(this.slots, this.logitRows))) {
      throw new RangeError(
        `decodeRows takes 1..${Math.min(this.slots, this.logitRows)} rows, got ${B}`,
      );
    }
    if (!(steps >= 1 && steps <= RING)) {
      throw new RangeError(`decodeRows takes 1..${RING} steps, got ${steps}`);
    }
    if (new Set(rows.map((r) => r.slot)).size !== B) {
      throw new RangeError("decodeRows: one row per slot");
    }
    const starts = rows.map((r) => this.#slots.tokens(r.slot).length);
    rows.forEach((r, b) => {
      this.#validate([r.id], starts[b]!, 1, r.slot);
      if (starts[b]! + steps > this.contextLength) {
        throw new RangeError(`decodeRows past the context (${this.contextLength})`);
      }
      this.#slots.remember([r.id], starts[b]!, r.slot);
    });
    this.#net.ops.setFrame(B);
    this.gpu.device.queue.writeBuffer(this.#net.ids, 0, Uint32Array.from(rows, (r) => r.id));
    this.gpu.device.queue.writeBuffer(
      this.#net.seq,
      0,
      Uint32Array.from(rows.flatMap((r, b) => [r.slot, starts[b]!])),
    );
    const longest = Math.max(...starts);
    const encoder = this.gpu.device.createCommandEncoder({ label: "decode rows" });
    for (let i = 0; i < steps; i++) {
      const pass = encoder.beginComputePass();
      this.#record((launch, n) => launch.record(pass, n, longest + i), B, true, B);
      pass.end();
    }
    this.gpu.device.queue.submit([encoder.finish()]);
    this.counters.submits++;
    const ring = await this.#readRing();
    return rows.map((r, b) => {
      const out = Array.from(
        { length: steps },
        (_, i) => ring[r.slot * RING + (starts[b]! + 1 + i) % RING]!,
      );
      this.#slots.remember(out.slice(0, -1), starts[b]! + 1, r.slot);
      return out;
    });
  }

  /** Reads the ring of picks (and, when a slot records them, their log-probabilities). */
  async #readRing(): Promise<Uint32Array> {
    this.counters.readbacks++;
    const { device } = this.gpu;
    const [ring, records] = await Promise.all([
      readBuffer(device, this.#net.sampler.ring, this.slots * RING * 4),
      this.#logprobSlots.size
        ? readBuffer(device, this.#net.logprobs.records, this.slots * RING * LOGPROB_RECORD * 4)
        : undefined,
    ]);
    this.#records = records && new Uint32Array(records);
    return new Uint32Array(ring);
  }

  /**
   * Decodes `steps` tokens without a host round trip between them: `first` is fed at the cache
   * end, each sampled id is written on the GPU into the next step's input and the position
   * advances on the GPU, all steps in one command buffer, and the ids are read back once.
   * Returns the `steps` sampled ids; all but the last are now in the cache (roll back with
   * {@linkcode Llama.truncate} to discard tokens past a terminator). One row of
   * {@linkcode Llama.decodeRows}.
   */
  async decode(first: number, steps: number, slot = 0): Promise<number[]> {
    return (await this.decodeRows([{ slot, id: first }], steps))[0]!;
  }

  /** Reads back `rows` rows of logits from the last forward. [rows, V] */
  async readLogits(rows = 1): Promise<Float32Array> {
    const bytes = rows * this.config.vocabSize * 4;
    return new Float32Array(await readBuffer(this.gpu.device, this.#net.logits, bytes));
  }

  /** Prefills `ids` from `start` in chunks and returns the logits of every position. [T, V] */
  async logits(ids: ArrayLike<number>, start = this.length): Promise<Float32Array> {
    const V = this.config.vocabSize;
    const all = Array.from(ids);
    const out = new Float32Array(all.length * V);
    for (let i = 0; i < all.length; i += this.logitRows) {
      const chunk = all.slice(i, i + this.logitRows);
      this.forward(chunk, start + i, { allLogits: true });
      out.set(await this.readLogits(chunk.length), i * V);
    }
    return out;
  }

  /**
   * Cross-entropy of one fresh pass over `ids` (positions from 0; slot 0's cache is replaced):
   * the sum over positions t with `targets[t]` ≥ 0 of −log p(targets[t] | ids[0..t]); a target
   * of −100 (Hugging Face's ignore_index) is not counted. Log-softmax and the sum run on the GPU,
   * a chunk of positions at a time; only the total is read back, never the logits.
   */
  async crossEntropy(ids: readonly number[], targets: readonly number[]): Promise<number> {
    if (ids.length === 0 || targets.length !== ids.length) {
      throw new RangeError(
        `crossEntropy takes as many targets as ids (${ids.length}), got ${targets.length}`,
      );
    }
    const V = this.config.vocabSize;
    for (const t of targets) {
      if (t !== IGNORE_INDEX && !(Number.isInteger(t) && t >= 0 && t < V)) {
        throw new InputError(`Target id ${t} is outside the vocabulary: expected 0..${V - 1}`);
      }
    }
    const loss = this.#loss;
    const { device } = this.gpu;
    device.queue.writeBuffer(loss.total, 0, Float32Array.of(0));
    this.truncate(0);
    for (let i = 0; i < ids.length; i += this.logitRows) {
      const chunk = ids.slice(i, i + this.logitRows);
      this.forward(chunk, i, { allLogits: true });
      const labels = targets.slice(i, i + chunk.length).map((t) =>
        t === IGNORE_INDEX ? IGNORED : t
      );
      device.queue.writeBuffer(loss.targets, 0, Uint32Array.from(labels));
      const encoder = device.createCommandEncoder({ label: "cross entropy" });
      const pass = encoder.beginComputePass();
      loss.nll.record(pass, chunk.length);
      loss.sum.record(pass, chunk.length);
      pass.end();
      device.queue.submit([encoder.finish()]);
      this.counters.submits++;
    }
    this.counters.readbacks++;
    return new Float32Array(await readBuffer(device, loss.total, 4))[0]!;
  }

  #lossLaunches(): LossLaunches {
    const { device } = this.gpu;
    const targets = storageBuffer(device, this.logitRows * 4, "loss.targets"); // u32 [logitRows]
    const nll = storageBuffer(device, this.logitRows * 4, "loss.nll"); // f32 [logitRows]
    const total = storageBuffer(device, 4, "loss.total"); // f32 [1]
    this.#net.buffers.push(targets, nll, total);
    return {
      targets,
      total,
      nll: this.#net.ops.crossEntropy(this.#net.logits, targets, nll, this.config.vocabSize),
      sum: this.#net.ops.sumInto(nll, total),
    };
  }

  /** Prefills `ids` from `start` in chunks and returns the logits of the last position. [V] */
  async lastLogits(ids: ArrayLike<number>, start = this.length): Promise<Float32Array> {
    if (ids.length === 0) throw new InputError("Cannot run the model on zero tokens");
    const all = Array.from(ids);
    for (let i = 0; i < all.length; i += this.prefillChunk) {
      this.forward(all.slice(i, i + this.prefillChunk), start + i);
    }
    return await this.readLogits(1);
  }

  /**
   * Times each kernel of one pass over `tokens` tokens at the current cache length (1: a decode
   * step; more: a prefill chunk) with timestamp queries (one compute pass per launch), summed by
   * kernel name over the layers. The pass is then undone.
   */
  async profile(tokens = 1): Promise<
    { name: string; seconds: number; launches: number; weightBytes: number }[]
  > {
    const names = new Map<Launch, string>();
    for (const layer of this.#net.launches.layers) {
      for (const [k, v] of Object.entries(layer)) names.set(v, k);
    }
    for (const [k, v] of Object.entries(this.#net.launches)) {
      if (k !== "layers") names.set(v as Launch, k);
    }
    const start = this.length;
    const ids = new Array<number>(tokens).fill(0);
    this.#validate(ids, start, this.prefillChunk, 0);
    this.#slots.remember(ids, start, 0);
    this.#net.ops.setFrame(tokens);
    this.gpu.device.queue.writeBuffer(this.#net.ids, 0, Uint32Array.from(ids));
    this.gpu.device.queue.writeBuffer(
      this.#net.seq,
      0,
      Uint32Array.from({ length: 2 * tokens }, (_, i) => i % 2 ? start + (i >> 1) : 0),
    );
    try {
      const times = await timeLaunches(
        this.gpu,
        (record) => this.#record(record, tokens, false, 1),
        (launch) => names.get(launch) ?? "?",
        start + tokens - 1,
      );
      return times.map((t) => ({ ...t, weightBytes: this.#net.bytesByLaunch[t.name] ?? 0 }));
    } finally {
      this.truncate(start);
    }
  }

  /**
   * Copies the first `n` cached positions of slot `from` into slot `to` (its cache then holds
   * them and nothing after): a prompt another sequence already computed is not computed again.
   * The copy goes through a staging buffer (WebGPU copies never stay within one buffer).
   */
  copyPrefix(from: number, to: number, n: number): void {
    if (!(from >= 0 && from < this.slots && to >= 0 && to < this.slots && from !== to)) {
      throw new RangeError(`copyPrefix: slots ${from} → ${to} of ${this.slots}`);
    }
    const tokens = this.#slots.tokens(from);
    if (!(n >= 0 && n <= tokens.length)) {
      throw new RangeError(`copyPrefix: ${n} positions, slot ${from} holds ${tokens.length}`);
    }
    this.#slots.remember(tokens.slice(0, n), 0, to);
    if (n === 0) return;
    const row = this.config.kvDim * 4;
    const slotBytes = this.contextLength * row;
    this.#staging ??= this.gpu.device.createBuffer({
      label: "kv.staging",
      size: slotBytes,
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const encoder = this.gpu.device.createCommandEncoder({ label: "copy prefix" });
    for (const cache of this.#net.caches) {
      for (const b of [cache.k, cache.v]) {
        encoder.copyBufferToBuffer(b, from * slotBytes, this.#staging, 0, n * row);
        encoder.copyBufferToBuffer(this.#staging, 0, b, to * slotBytes, n * row);
      }
    }
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** Frees the model's GPU memory (weights, caches, scratch); the model is unusable afterwards. */
  dispose(): void {
    for (const b of new Set(this.#net.buffers)) b.destroy();
    this.#staging?.destroy();
  }

  /** Forgets a slot's cached positions ≥ n (its next forward starts at n). */
  truncate(n: number, slot = 0): void {
    this.#slots.truncate(n, slot);
  }

  /** Empties every slot's KV cache. */
  reset(): void {
    for (let slot = 0; slot < this.slots; slot++) this.truncate(0, slot);
  }

  #validate(ids: ArrayLike<number>, start: number, maxTokens: number, slot: number): void {
    const T = ids.length;
    if (T === 0 || T > maxTokens) {
      throw new RangeError(`forward takes 1..${maxTokens} tokens, got ${T}`);
    }
    if (!(slot >= 0 && slot < this.slots)) throw new RangeError(`slot ${slot} of ${this.slots}`);
    const cached = this.#slots.tokens(slot).length;
    if (start > cached) {
      throw new RangeError(`start ${start} is past the ${cached} cached tokens`);
    }
    if (start + T > this.contextLength) {
      throw new InputError(
        `The sequence needs ${
          start + T
        } positions: the context holds ${this.contextLength} (raise --ctx)`,
      );
    }
    for (let i = 0; i < T; i++) {
      const id = ids[i]!;
      if (!(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize)) {
        throw new InputError(
          `Token id ${id} is outside the vocabulary: expected 0..${this.config.vocabSize - 1}`,
        );
      }
    }
  }
}
