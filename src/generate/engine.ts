/**
 * The one decode loop. Requests arrive at any time and join the running batch (continuous
 * batching): up to `slots` sequences decode together, and a finished or abandoned sequence frees
 * its slot for the next waiting request. A free slot keeps its cached tokens, and a new request
 * takes the free slot whose cache shares the longest prefix with its prompt (prefix caching), so
 * a chat that goes on, or a repeated system prompt, is not prefilled again. Each request gets
 * exactly the tokens it would get alone (its own sampling, seed, positions and repetition
 * history). `run` and `chat` submit one request at a time, `batch` a file's, `serve` its clients'.
 * It sees the model only through {@linkcode CausalLM}, so it is tested with a scripted CPU model.
 * @module
 */
import { InputError } from "../errors.ts";
import type { TokenLogprobs } from "../model/logprobs.ts";
import type { CausalLM, EngineRequest, EngineResult } from "./causal_lm.ts";
import { Reply, type ReplyOptions, resultOf } from "./reply.ts";
import type { Decode } from "./text_stream.ts";

export type {
  CausalLM,
  EngineRequest,
  EngineResult,
  TokenConstraint,
  TokenLogprobs,
} from "./causal_lm.ts";

/** The waiting queue is full. */
export class QueueFullError extends Error {}

/** The engine was closed before the request started. */
export class ClosedError extends Error {}

interface Waiting {
  request: EngineRequest;
  submitted: number;
  resolve: (r: EngineResult) => void;
  reject: (e: unknown) => void;
}

interface Active extends Waiting {
  reply: Reply;
  promptLogprobs?: TokenLogprobs[];
  cached: number;
  started: number;
  prefilled: number;
}

/** Most tokens decoded per host round trip; batches are sized to return about every 100 ms. */
export const MAX_BATCH = 32;
const FLUSH_SECONDS = 0.1;

/** Steps for the next decode batch, after steps that took `secondsPerStep` each. */
export function nextBatch(secondsPerStep: number, most = MAX_BATCH): number {
  return Math.max(1, Math.min(most, Math.floor(FLUSH_SECONDS / Math.max(secondsPerStep, 1e-6))));
}

/** How many leading tokens of `prompt` a cache holding `cached` can keep (at least one is recomputed). */
export function reusablePrefix(cached: readonly number[], prompt: readonly number[]): number {
  let n = 0;
  while (n < prompt.length - 1 && n < cached.length && cached[n] === prompt[n]) n++;
  return n;
}

/** Options of an {@linkcode Engine}. */
export interface EngineOptions {
  terminators: ReadonlySet<number>;
  decode: Decode;
  /** Requests that may wait beyond the free slots; more are refused. @default unbounded */
  queueLimit?: number;
  /**
   * Most steps decoded between admissions: small when requests arrive at any time (a server),
   * so a new one waits little for its first token. @default {@linkcode MAX_BATCH}
   */
  maxSteps?: number;
}

/** Continuous batching over a model with slots. */
export class Engine {
  readonly #model: CausalLM;
  readonly #reply: Omit<ReplyOptions, "maxTokens" | "stop" | "onText">;
  readonly #queueLimit: number;
  readonly #maxSteps: number;
  readonly #waiting: Waiting[] = [];
  readonly #active = new Map<number, Active>();
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(model: CausalLM, options: EngineOptions) {
    this.#model = model;
    this.#reply = { terminators: options.terminators, decode: options.decode };
    this.#queueLimit = options.queueLimit ?? Infinity;
    this.#maxSteps = options.maxSteps ?? MAX_BATCH;
  }

  /** Requests decoding now and waiting for a slot. */
  get load(): { active: number; waiting: number; slots: number } {
    return { active: this.#active.size, waiting: this.#waiting.length, slots: this.#model.slots };
  }

  /** Queues a request; resolves when it finishes. Throws {@linkcode QueueFullError} when full. */
  submit(request: EngineRequest): Promise<EngineResult> {
    if (this.#closed) return Promise.reject(new ClosedError("the engine is closed"));
    if (request.promptIds.length === 0) throw new InputError("a request needs prompt tokens");
    const model = this.#model;
    if (
      (request.logprobs !== undefined || request.echo) &&
      !(model.setLogprobs && model.logprobsAt && model.scorePrompt)
    ) {
      throw new InputError("this model does not report log-probabilities");
    }
    if (request.constraint && !model.setMask) {
      throw new InputError("this model cannot constrain its output");
    }
    if (request.maxTokens < (request.echo ? 0 : 1)) {
      throw new InputError("a request needs max tokens ≥ 1 (0 only when it echoes its prompt)");
    }
    if (request.promptIds.length >= this.#model.contextLength) {
      throw new InputError(
        `the prompt has ${request.promptIds.length} tokens: the context holds ${this.#model.contextLength}`,
      );
    }
    const free = this.#model.slots - this.#active.size;
    if (this.#waiting.length - free >= this.#queueLimit) {
      throw new QueueFullError(`${this.#waiting.length} requests are already waiting`);
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, submitted: performance.now(), resolve, reject });
      this.#start();
    });
  }

  /** Runs the loop unless it runs; one submitted as it was ending starts it again. */
  #start(): void {
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
      if (this.#waiting.length > 0) this.#start();
    });
  }

  /** Resolves when every request submitted so far has finished. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /**
   * Ends every running request (as "interrupted"), rejects the waiting ones with a
   * {@linkcode ClosedError} and refuses new ones; resolves when the loop stops.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) {
      w.reject(new ClosedError("the server is shutting down"));
    }
    for (const a of this.#active.values()) a.reply.end("interrupted");
    await this.#running;
  }

  async #loop(): Promise<void> {
    let steps = 1;
    while (this.#waiting.length > 0 || this.#active.size > 0) {
      try {
        await this.#admit();
        this.#dropAbandoned();
        if (this.#active.size === 0) continue;
        const slots = [...this.#active.keys()];
        const model = this.#model;
        const room = Math.min(...slots.map((s) => model.contextLength - model.tokensOf(s).length));
        const left = Math.min(
          ...[...this.#active.values()].map((a) => a.request.maxTokens - a.reply.tokens.length),
        );
        // A constrained reply needs its next mask after each token: one step per round trip.
        const constrained = [...this.#active.values()].some((a) => a.request.constraint);
        const n = constrained ? 1 : Math.max(1, Math.min(steps, room, left));
        const starts = slots.map((slot) => model.tokensOf(slot).length);
        const t = performance.now();
        const ids = await model.decodeRows(
          slots.map((slot) => ({ slot, id: this.#active.get(slot)!.reply.tokens.at(-1)! })),
          n,
        );
        steps = nextBatch((performance.now() - t) / 1000 / n, this.#maxSteps);
        for (const [row, slot] of slots.entries()) {
          const a = this.#active.get(slot)!;
          for (const [i, id] of ids[row]!.entries()) {
            if (a.reply.finishReason !== undefined) break;
            if (a.request.signal?.aborted) a.reply.end("interrupted");
            else await this.#accept(a, slot, id, starts[row]! + 1 + i);
          }
          if (a.reply.finishReason !== undefined) this.#finish(slot, a);
          else if (model.tokensOf(slot).length >= model.contextLength) {
            a.reply.end("context");
            this.#finish(slot, a, true);
          }
        }
      } catch (e) {
        // A device failure ends every request with it; the engine stays usable for new ones.
        for (const [slot, a] of this.#active) (this.#active.delete(slot), a.reject(e));
        for (const w of this.#waiting.splice(0)) w.reject(e);
      }
    }
  }

  /** Requests whose client left (or the server closes) end now and free their slots. */
  #dropAbandoned(): void {
    for (const [slot, a] of this.#active) {
      if (a.request.signal?.aborted) a.reply.end("interrupted");
      if (a.reply.finishReason !== undefined) this.#finish(slot, a);
    }
  }

  /**
   * Moves waiting requests into free slots, each into the one whose cache it shares most with;
   * when another slot (a running sequence's, say: `n` copies of one prompt, or one system
   * prompt sent by many clients at once) shares more, its prefix is copied rather than computed.
   */
  async #admit(): Promise<void> {
    const model = this.#model;
    while (this.#waiting.length > 0 && this.#active.size < model.slots) {
      const w = this.#waiting.shift()!;
      if (w.request.signal?.aborted) {
        w.reject(new DOMException("the request was aborted", "AbortError"));
        continue;
      }
      const prompt = w.request.promptIds;
      let best = -1;
      let reused = -1;
      for (let slot = 0; slot < model.slots; slot++) {
        if (this.#active.has(slot)) continue;
        const n = reusablePrefix(model.tokensOf(slot), prompt);
        if (n > reused) [best, reused] = [slot, n];
      }
      if (w.request.echo) reused = 0; // every prompt token is scored
      else if (model.copyPrefix) {
        let source = -1;
        let shared = reused;
        for (let slot = 0; slot < model.slots; slot++) {
          const n = slot === best ? 0 : reusablePrefix(model.tokensOf(slot), prompt);
          if (n > shared) [source, shared] = [slot, n];
        }
        if (source >= 0) {
          model.copyPrefix(source, best, shared);
          reused = shared;
        }
      }
      const { maxTokens, stop, onText, logprobs, echo } = w.request;
      const reply = new Reply({ ...this.#reply, maxTokens, stop: stop ?? [], onText }, prompt);
      const a: Active = { ...w, reply, cached: reused, started: performance.now(), prefilled: 0 };
      this.#active.set(best, a);
      model.truncate(reused, best);
      model.setSampling(w.request.sampling, best);
      model.setLogprobs?.(logprobs, best);
      if (w.request.constraint) model.setMask!(best, await w.request.constraint.allowed());
      else model.setMask?.(best, undefined);
      if (echo) {
        a.promptLogprobs = await model.scorePrompt!(prompt, logprobs ?? 0, best);
        reused = prompt.length - 1;
      }
      if (maxTokens === 0) {
        a.prefilled = performance.now();
        reply.end("length");
        this.#finish(best, a);
        continue;
      }
      const first = await model.step(prompt.slice(reused), reused, best);
      a.prefilled = performance.now();
      if (await this.#accept(a, best, first, prompt.length)) this.#finish(best, a);
    }
  }

  /**
   * Gives the reply the token drawn at `position` of `slot` (with its log-probabilities when
   * asked); a constrained reply's next mask follows it. True when the reply is finished.
   */
  async #accept(a: Active, slot: number, id: number, position: number): Promise<boolean> {
    if (a.reply.accept(id, this.#logprobs(a, slot, position))) return true;
    const c = a.request.constraint;
    if (c) {
      if (!c.accept(id)) {
        a.reply.end("stop");
        return true;
      }
      this.#model.setMask!(slot, await c.allowed());
    }
    return false;
  }

  /** The record of the token drawn at `position` of `slot`, when its request asks for them. */
  #logprobs(a: Active, slot: number, position: number): TokenLogprobs | undefined {
    return a.request.logprobs === undefined ? undefined : this.#model.logprobsAt!(slot, position);
  }

  #finish(slot: number, a: Active, contextFull = false): void {
    const prompt = a.request.promptIds;
    // Tokens decoded past the end (a terminator or stop inside a batch) leave the cache.
    this.#model.truncate(prompt.length + a.reply.tokens.length, slot);
    if (a.request.logprobs !== undefined) this.#model.setLogprobs!(undefined, slot);
    if (a.request.constraint) this.#model.setMask!(slot, undefined);
    this.#active.delete(slot);
    const now = performance.now();
    a.resolve({
      ...resultOf(a.reply, prompt, prompt.length - a.cached, {
        prefill: (a.prefilled - a.started) / 1000,
        decode: (now - a.prefilled) / 1000,
      }, contextFull),
      cachedTokens: a.cached,
      ...(a.promptLogprobs ? { promptLogprobs: a.promptLogprobs } : {}),
      firstTokenSeconds: (a.prefilled - a.submitted) / 1000,
    });
  }
}
