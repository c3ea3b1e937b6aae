/**
 * Many prompts through one model with continuous batching: up to `slots` sequences decode
 * together (each step reads every weight once for all of them), a finished sequence frees its
 * slot for the next prompt, and results come back in input order. Each request has its own
 * sampling, limits and stop strings and gets exactly the tokens it would get alone (same seeds,
 * same positions, its own repetition-penalty history).
 * @module
 */
import {
  type CausalLM,
  generate,
  type GenerateResult,
  nextBatch,
  Reply,
  resultOf,
  reusablePrefix,
} from "./generate.ts";
import type { SamplingParams } from "./sampling.ts";
import type { Decode } from "./text_stream.ts";

/** One prompt and how to answer it. */
export interface BatchRequest {
  /** Prompt token ids (chat template already applied, or raw). */
  promptIds: readonly number[];
  sampling: SamplingParams;
  maxTokens: number;
  stop?: readonly string[];
}

/** Options shared by every request. */
export interface BatchOptions {
  terminators: ReadonlySet<number>;
  decode: Decode;
  /** Receives each result as soon as it and all before it are done (input order). */
  onResult?: (index: number, result: GenerateResult) => void | Promise<void>;
  signal?: AbortSignal;
}

/** A model that holds several sequences at once (see `Llama.decodeRows`). */
export interface BatchLM extends CausalLM {
  readonly slots: number;
  tokensOf(slot: number): readonly number[];
  step(ids: readonly number[], start?: number, slot?: number): Promise<number>;
  setSampling(p: SamplingParams, slot?: number): void;
  truncate(n: number, slot?: number): void;
  decodeRows(rows: readonly { slot: number; id: number }[], steps?: number): Promise<number[][]>;
}

function isBatchLM(model: CausalLM): model is BatchLM {
  return "decodeRows" in model && (model as BatchLM).slots > 1;
}

/** Generates a reply to every request, in input order. */
export async function generateBatch(
  model: CausalLM,
  requests: readonly BatchRequest[],
  options: BatchOptions,
): Promise<GenerateResult[]> {
  return isBatchLM(model)
    ? await continuous(model, requests, options)
    : await oneByOne(model, requests, options);
}

async function oneByOne(
  model: CausalLM,
  requests: readonly BatchRequest[],
  options: BatchOptions,
): Promise<GenerateResult[]> {
  const results: GenerateResult[] = [];
  for (const [i, r] of requests.entries()) {
    if (options.signal?.aborted) break;
    const result = await generate(model, r.promptIds, {
      sampling: r.sampling,
      maxTokens: r.maxTokens,
      terminators: options.terminators,
      stop: r.stop ?? [],
      decode: options.decode,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (result.finishReason === "interrupted") break; // partial: left for a later run
    results.push(result);
    await options.onResult?.(i, result);
  }
  return results;
}

/** A request occupying a slot. */
interface Active {
  index: number;
  reply: Reply;
  prefillTokens: number;
  started: number; // ms
  prefilled: number; // ms
}

async function continuous(
  model: BatchLM,
  requests: readonly BatchRequest[],
  options: BatchOptions,
): Promise<GenerateResult[]> {
  const done: (GenerateResult | undefined)[] = new Array(requests.length);
  let emitted = 0;
  let next = 0;
  const active = new Map<number, Active>();

  const finish = async (slot: number, a: Active, contextFull = false) => {
    const prompt = requests[a.index]!.promptIds;
    model.truncate(prompt.length + a.reply.tokens.length, slot); // drop tokens decoded past the end
    const now = performance.now();
    done[a.index] = resultOf(a.reply, prompt, a.prefillTokens, {
      prefill: (a.prefilled - a.started) / 1000,
      decode: (now - a.prefilled) / 1000,
    }, contextFull);
    active.delete(slot);
    while (emitted < requests.length && done[emitted]) {
      await options.onResult?.(emitted, done[emitted]!);
      emitted++;
    }
  };

  /** Prefills the next waiting request into `slot` and takes its first token. */
  const admit = async (slot: number) => {
    while (next < requests.length && !options.signal?.aborted) {
      const index = next++;
      const r = requests[index]!;
      const reply = new Reply({
        maxTokens: r.maxTokens,
        terminators: options.terminators,
        stop: r.stop ?? [],
        decode: options.decode,
      }, r.promptIds);
      const reused = reusablePrefix(model.tokensOf(slot), r.promptIds);
      model.truncate(reused, slot);
      model.setSampling(r.sampling, slot);
      const a: Active = {
        index,
        reply,
        prefillTokens: r.promptIds.length - reused,
        started: performance.now(),
        prefilled: 0,
      };
      active.set(slot, a);
      const first = await model.step(r.promptIds.slice(reused), reused, slot);
      a.prefilled = performance.now();
      if (!reply.accept(first)) return;
      await finish(slot, a);
    }
  };

  for (let slot = 0; slot < model.slots; slot++) await admit(slot);
  let steps = 1;
  while (active.size > 0 && !options.signal?.aborted) {
    // Sequences whose cache is full end here; the others decode together.
    for (const [slot, a] of active) {
      if (model.tokensOf(slot).length >= model.contextLength) {
        a.reply.end("context");
        await finish(slot, a, true);
        await admit(slot);
      }
    }
    if (active.size === 0) break;
    const slots = [...active.keys()];
    const room = Math.min(...slots.map((s) => model.contextLength - model.tokensOf(s).length));
    const left = Math.min(
      ...slots.map((s) =>
        requests[active.get(s)!.index]!.maxTokens - active.get(s)!.reply.tokens.length
      ),
    );
    const n = Math.max(1, Math.min(steps, room, left));
    const t = performance.now();
    const ids = await model.decodeRows(
      slots.map((slot) => ({ slot, id: active.get(slot)!.reply.tokens.at(-1)! })),
      n,
    );
    steps = nextBatch((performance.now() - t) / 1000 / n);
    for (const [row, slot] of slots.entries()) {
      const a = active.get(slot)!;
      if (ids[row]!.some((id) => a.reply.accept(id))) {
        await finish(slot, a);
        await admit(slot);
      }
    }
  }
  return done.slice(0, emitted) as GenerateResult[];
}
