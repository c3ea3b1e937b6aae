/**
 * A completion streamed as OpenAI streams it: server-sent events, a chunk per piece of text.
 * @module
 */
import type { EngineResult, TokenLogprobs } from "../generate/engine.ts";
import type { GenerationRequest } from "../generate/request.ts";
import { chatLogprobs, completionLogprobs, type TokenView } from "./logprobs.ts";
import { ApiError, finishReason, internal, usageOf } from "./openai.ts";

/** Receives choice i's next piece of text and the log-probabilities of the tokens behind it. */
export type StreamText = (
  choice: number,
  text: string,
  logprobs?: readonly TokenLogprobs[],
) => void;

/**
 * A streamed reply: server-sent events, `data: {chunk}` per piece of text (each choice's with its
 * index), a last chunk per choice with its finish reason, then `data: [DONE]`.
 */
export function stream(
  kind: "chat" | "completion",
  base: { id: string; created: number; model: string },
  r: GenerationRequest,
  submit: (onText: StreamText, signal: AbortSignal) => Promise<EngineResult>[],
  record: (results: readonly EngineResult[]) => void,
  view?: TokenView,
): { response: Response; finished: Promise<unknown> } {
  const encoder = new TextEncoder();
  const gone = new AbortController();
  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const offsets: number[] = []; // each choice's text streamed so far (completions' text_offset)
  const logprobsOf = (index: number, entries: readonly TokenLogprobs[] | undefined) => {
    if (!view) return null;
    if (kind === "chat") return chatLogprobs(entries ?? [], view);
    const lp = completionLogprobs(entries ?? [], view, offsets[index] ?? 0);
    offsets[index] = (offsets[index] ?? 0) + lp.tokens.reduce((n, t) => n + t.length, 0);
    return lp;
  };
  const chunk = (
    index: number,
    delta: string | undefined,
    reason: string | null,
    first = false,
    entries?: readonly TokenLogprobs[],
  ) => ({
    ...base,
    object,
    choices: [
      kind === "chat"
        ? {
          index,
          delta: first
            ? { role: "assistant", content: "" }
            : delta === undefined
            ? {}
            : { content: delta },
          logprobs: entries ? logprobsOf(index, entries) : null,
          finish_reason: reason,
        }
        : {
          index,
          text: delta ?? "",
          logprobs: entries ? logprobsOf(index, entries) : null,
          finish_reason: reason,
        },
    ],
  });
  // Submitted before the response starts, so a full queue is still a 429.
  const pending: Parameters<StreamText>[] = [];
  let onText: StreamText = (...piece) => void pending.push(piece);
  const results = submit((i, t, lp) => onText(i, t, lp), gone.signal);
  let finished: Promise<unknown> = Promise.all(results);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (data: unknown) => {
        if (gone.signal.aborted) return;
        try {
          controller.enqueue(
            encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`),
          );
        } catch {
          gone.abort();
        }
      };
      if (kind === "chat") results.forEach((_, i) => send(chunk(i, undefined, null, true)));
      onText = (i, t, lp) => send(chunk(i, t, null, false, lp));
      pending.splice(0).forEach((piece) => onText(...piece));
      const ends = results.map((p, i) =>
        p.then((res) => (send(chunk(i, undefined, finishReason(res.finishReason))), res))
      );
      finished = Promise.all(ends).then((all) => {
        record(all);
        if (r.includeUsage) send({ ...base, object, choices: [], usage: usageOf(all) });
        send("[DONE]");
      }, (e) => {
        send((e instanceof ApiError ? e : internal(e)).body());
      }).finally(() => {
        try {
          controller.close();
        } catch { /* the client left */ }
      });
    },
    cancel() {
      gone.abort();
    },
  });
  const response = new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    },
  });
  return { response, finished: finished.catch(() => {}) };
}
