/**
 * Log-probabilities in OpenAI's two shapes: chat's `logprobs.content[]` ({token, logprob, bytes,
 * top_logprobs}) and a completion's four parallel lists ({tokens, token_logprobs, top_logprobs,
 * text_offset}), the echoed prompt's first token with null (nothing precedes it).
 * @module
 */
import type { TokenLogprobs } from "../generate/engine.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";

/** How a token is shown: its text, and the bytes it stands for. */
export interface TokenView {
  text(id: number): string;
  bytes(id: number): number[];
}

/**
 * Tokens as OpenAI shows them: the text of the token's bytes, or where they are not whole UTF-8
 * characters (a piece of a character), `bytes:\xe2\x80` as OpenAI writes them.
 */
export function tokenView(tokenizer: TextTokenizer): TokenView {
  const strict = new TextDecoder("utf-8", { fatal: true });
  return {
    bytes: (id) => [...tokenizer.tokenBytes(id)],
    text: (id) => {
      const bytes = tokenizer.tokenBytes(id);
      try {
        return strict.decode(bytes);
      } catch {
        return "bytes:" + [...bytes].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
      }
    },
  };
}

/** Chat's logprobs object for a reply's (or a streamed piece's) tokens. */
export function chatLogprobs(entries: readonly TokenLogprobs[], view: TokenView) {
  const item = (id: number, logprob: number) => ({
    token: view.text(id),
    logprob,
    bytes: view.bytes(id),
  });
  return {
    content: entries.map((e) => ({
      ...item(e.id, e.logprob),
      top_logprobs: e.top.map((t) => item(t.id, t.logprob)),
    })),
    refusal: null,
  };
}

/** A scored token, or the first of an echoed prompt (no log-probability: nothing precedes it). */
export type Scored = TokenLogprobs | { id: number; logprob: null; top: null };

/**
 * A completion's logprobs object; `offset` is where the first token's text starts in the
 * choice's text (a streamed piece continues the ones before it).
 */
export function completionLogprobs(entries: readonly Scored[], view: TokenView, offset = 0) {
  const tokens = entries.map((e) => view.text(e.id));
  const text_offset = tokens.map((t) => (offset += t.length) - t.length);
  return {
    tokens,
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) =>
      e.top && Object.fromEntries(e.top.map((t) => [view.text(t.id), t.logprob]))
    ),
    text_offset,
  };
}

/** Our own shape (run --json, batch's short lines): per token its id, text, log-probability, top. */
export function plainLogprobs(entries: readonly TokenLogprobs[], view: TokenView) {
  const item = (id: number, logprob: number) => ({ id, token: view.text(id), logprob });
  return entries.map((e) => ({
    ...item(e.id, e.logprob),
    top_logprobs: e.top.map((t) => item(t.id, t.logprob)),
  }));
}
