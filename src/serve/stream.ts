/**
 * A completion streamed as OpenAI streams it: server-sent events, a chunk per piece of text.
 * @module
 */
import type { EngineResult, TokenLogprobs } from "../generate/engine.ts";
import type { GenerationRequest } from "../generate/request.ts";
import { parseToolCalls, type ToolCall } from "../generate/tools.ts";
import { chatLogprobs, completionLogprobs, type TokenView } from "./logprobs.ts";
import { ApiError, finishReason, internal, usageOf } from "./openai.ts";

/** Receives choice i's next piece of text and the log-probabilities of the tokens behind it. */
export type StreamText = (
  choice: number,
  text: string,
  logprobs?: readonly TokenLogprobs[],
) => void;

/** A chunk's delta: a piece of text, or a reply's tool calls (chat). */
type Delta = { content: string } | { tool_calls: (ToolCall & { index: number })[] };

/**
 * A streamed reply: server-sent events, `data: {chunk}` per piece of text (each choice's with its
 * index), a last chunk per choice with its finish reason, then `data: [DONE]`. With tools, a
 * reply that opens with "{" may be a call: it is held until it ends, then sent as
 * `delta.tool_calls` (finish_reason "tool_calls"), or as content if it is not one.
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
    delta: Delta | undefined,
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
          delta: first ? { role: "assistant", content: "" } : delta ?? {},
          logprobs: entries ? logprobsOf(index, entries) : null,
          finish_reason: reason,
        }
        : {
          index,
          text: delta && "content" in delta ? delta.content : "",
          logprobs: entries ? logprobsOf(index, entries) : null,
          finish_reason: reason,
        },
    ],
  });
  const tools = r.tools;
  /** Per choice: text held while it may be a call, and whether it is known not to be one. */
  const held = Array.from({ length: r.n }, () => ({
    text: "",
    logprobs: [] as TokenLogprobs[],
    content: !tools,
  }));
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
      onText = (i, t, lp) => {
        const h = held[i]!;
        if (h.content) return send(chunk(i, { content: t }, null, false, lp));
        h.text += t;
        h.logprobs.push(...lp ?? []);
        const head = h.text.trimStart();
        if (head === "" || head.startsWith("{")) return; // it may be a call
        h.content = true;
        send(chunk(i, { content: h.text }, null, false, h.logprobs));
      };
      pending.splice(0).forEach((piece) => onText(...piece));
      const ends = results.map((p, i) =>
        p.then((res) => {
          const h = held[i]!;
          const calls = h.content ? undefined : parseToolCalls(res.text, tools!);
          if (calls) {
            const delta = { tool_calls: calls.map((c, index) => ({ index, ...c })) };
            send(chunk(i, delta, null, false, h.logprobs));
            send(chunk(i, undefined, "tool_calls"));
          } else {
            if (!h.content && (h.text || h.logprobs.length)) {
              send(chunk(i, { content: h.text }, null, false, h.logprobs));
            }
            send(chunk(i, undefined, finishReason(res.finishReason)));
          }
          return res;
        })
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
