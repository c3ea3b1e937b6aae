/**
 * One reply in the making — sampled ids turned into streamed text, ended by a terminator, a stop
 * string or the token limit — and the record of a finished one.
 * @module
 */
import type { TokenLogprobs } from "../model/logprobs.ts";
import { type Decode, TextStream } from "./text_stream.ts";

/** How a reply is ended and shown. */
export interface ReplyOptions {
  /** Most new tokens. */
  maxTokens: number;
  /** Ids that end the reply (not part of its text). */
  terminators: ReadonlySet<number>;
  /** Texts that end the reply (not shown). */
  stop?: readonly string[];
  decode: Decode;
  /** Receives text as it is produced, with the log-probabilities of the tokens behind it. */
  onText?: (delta: string, logprobs?: readonly TokenLogprobs[]) => void;
}

/** Prompt tokens a reply's text is decoded after (so its first piece keeps its leading space). */
const CONTEXT_TOKENS = 4;

/**
 * Why generation ended: a terminator or stop string, max tokens, a full context, or the caller's
 * abort signal.
 */
export type FinishReason = "stop" | "length" | "context" | "interrupted";

/** The outcome of {@linkcode generate}. */
export interface GenerateResult {
  text: string;
  /** Generated ids, the terminator excluded. */
  tokens: number[];
  /** Each generated id's log-probability, when they were asked for. */
  logprobs?: TokenLogprobs[];
  finishReason: FinishReason;
  /** True when the context filled up. */
  contextFull: boolean;
  promptTokens: number;
  /** Prompt tokens actually computed (the rest came from the cache). */
  prefillTokens: number;
  timings: {
    prefillSeconds: number;
    decodeSeconds: number;
    prefillTokensPerSecond: number;
    decodeTokensPerSecond: number;
  };
}

/**
 * One reply in the making: turns sampled ids into streamed text and decides when it is finished
 * (terminator, stop string, token limit).
 */
export class Reply {
  readonly tokens: number[] = [];
  readonly logprobs: TokenLogprobs[] = [];
  text = ""; // emitted
  #unsent = 0; // logprobs not yet given to onText
  finishReason: FinishReason | undefined;
  readonly #stream: TextStream;
  readonly #stops: string[];
  #held = ""; // produced but possibly the start of a stop string

  constructor(readonly options: ReplyOptions, prompt: readonly number[] = []) {
    this.#stream = new TextStream(options.decode, prompt.slice(-CONTEXT_TOKENS));
    this.#stops = (options.stop ?? []).filter((s) => s.length > 0);
  }

  /** Takes the next sampled id (and its log-probabilities); returns true when the reply is finished. */
  accept(id: number, logprobs?: TokenLogprobs): boolean {
    if (this.options.terminators.has(id)) return this.#end("stop");
    this.tokens.push(id);
    if (logprobs) this.logprobs.push(logprobs);
    if (this.#text(this.#stream.push(id))) return this.#end("stop");
    if (this.tokens.length >= this.options.maxTokens) return this.#end("length");
    return false;
  }

  /** Ends the reply for another reason (the context filled, an interruption). */
  end(reason: FinishReason): void {
    if (this.finishReason === undefined) this.#end(reason);
  }

  #end(reason: FinishReason): true {
    // Text held back for a possible stop string or an incomplete character is emitted unless a
    // stop string ended the reply.
    if (reason !== "stop" && this.#text(this.#stream.flush())) reason = "stop";
    if (reason !== "stop") this.#emit(this.#held);
    this.#held = "";
    if (this.#unsent < this.logprobs.length) this.#emit("", true);
    this.finishReason = reason;
    return true;
  }

  /** Takes new text; returns true when a stop string completed. */
  #text(delta: string): boolean {
    this.#held += delta;
    const held = this.#held;
    // Held text is the only place a stop string can start: anything that could begin one is held.
    const at = Math.min(...this.#stops.map((s) => held.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(at)) {
      this.#emit(held.slice(0, at));
      this.#held = "";
      return true;
    }
    let keep = 0; // longest tail of held that could begin a stop string
    for (const s of this.#stops) {
      for (let n = Math.min(s.length - 1, held.length); n > keep; n--) {
        if (s.startsWith(held.slice(-n))) keep = n;
      }
    }
    this.#emit(held.slice(0, held.length - keep));
    this.#held = held.slice(held.length - keep);
    return false;
  }

  /** Shows text (with the log-probabilities not shown yet); `last` shows them without text. */
  #emit(t: string, last = false): void {
    if (!t && !last) return;
    this.text += t;
    const logprobs = this.logprobs.slice(this.#unsent);
    this.#unsent = this.logprobs.length;
    this.options.onText?.(t, logprobs.length ? logprobs : undefined);
  }
}

/** The result record of a finished reply. */
export function resultOf(
  reply: Reply,
  prompt: readonly number[],
  prefillTokens: number,
  seconds: { prefill: number; decode: number },
  contextFull = false,
): GenerateResult {
  return {
    text: reply.text,
    tokens: reply.tokens,
    ...(reply.logprobs.length ? { logprobs: reply.logprobs } : {}),
    finishReason: reply.finishReason ?? "length",
    contextFull,
    promptTokens: prompt.length,
    prefillTokens,
    timings: {
      prefillSeconds: seconds.prefill,
      decodeSeconds: seconds.decode,
      prefillTokensPerSecond: prefillTokens / Math.max(seconds.prefill, 1e-9),
      decodeTokensPerSecond: Math.max(0, reply.tokens.length - 1) / Math.max(seconds.decode, 1e-9),
    },
  };
}
