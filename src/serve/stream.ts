/**
 * A completion streamed as OpenAI streams it: server-sent events, a chunk per piece of text.
 * @module
 */
import type { EngineResult } from "../generate/engine.ts";
import type { GenerationRequest } from "../generate/request.ts";
import { ApiError, finishReason, internal, usageOf } from "./openai.ts";

/**
 * A streamed reply: server-sent events, `data: {chunk}` per piece of text (each choice's with its
 * index), a last chunk per choice with its finish reason, then `data: [DONE]`.
 */
export function stream(
  kind: "chat" | "completion",
  base: { id: string; created: number; model: string },
  r: GenerationRequest,
  submit: (
    onText: (choice: number, t: string) => void,
    signal: AbortSignal,
  ) => Promise<EngineResult>[],
  record: (results: readonly EngineResult[]) => void,
): { response: Response; finished: Promise<unknown> } {
  const encoder = new TextEncoder();
  const gone = new AbortController();
  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const chunk = (
    index: number,
    delta: string | undefined,
    reason: string | null,
    first = false,
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
          logprobs: null,
          finish_reason: reason,
        }
        : { index, text: delta ?? "", logprobs: null, finish_reason: reason },
    ],
  });
  // Submitted before the response starts, so a full queue is still a 429.
  const pending: [number, string][] = [];
  let onText: (choice: number, t: string) => void = (i, t) => void pending.push([i, t]);
  const results = submit((i, t) => onText(i, t), gone.signal);
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
      onText = (i, t) => send(chunk(i, t, null));
      pending.splice(0).forEach(([i, t]) => onText(i, t));
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
