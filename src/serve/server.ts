/**
 * The HTTP side of `wgllama serve`: OpenAI's routes over one {@linkcode Engine} — chat and text
 * completions (whole or as server-sent events), the model list and a health check — with bearer
 * authentication, one log line per request, and a 4xx in OpenAI's error shape for every bad request.
 * @module
 */
import { ClosedError, type Engine, type EngineResult, QueueFullError } from "../generate/engine.ts";
import {
  FieldError,
  type GenerationRequest,
  mergeSampling,
  parseRequest,
} from "../generate/request.ts";
import { promptIds, type Session } from "../generate/session.ts";
import { exceedsTokens, parseJsonBody, readBody } from "./bounded_text.ts";
import { Metrics } from "./metrics.ts";
import { ApiError, completionBase, completionObject, finishReason, usageOf } from "./openai.ts";

/** The model a server answers with. */
export interface ServedModel {
  /** The id clients name in `model` (and /v1/models lists). */
  id: string;
  /** The model, its tokenizer and template, and the defaults of every request. */
  session: Session;
  engine: Engine;
  contextLength: number;
}

/** Server options. */
export interface ServeOptions {
  /** Requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Receives one line per request (method, path, status, tokens, timings). */
  log?: (line: string) => void;
  /** Bodies above this many bytes get 413 without being read whole. @default 4 MiB */
  maxBodyBytes?: number;
  /** Origins a browser may call from (CORS); others are refused. @default none */
  corsOrigins?: readonly string[];
  /** Bound to loopback: a Host header naming another machine is refused (DNS rebinding). */
  loopback?: boolean;
  /** True once the server is stopping: new completions get 503. */
  draining?: () => boolean;
}

/** The default body limit: a 128k-token prompt as JSON fits many times over. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Unix seconds when the server started (models' `created`). */
const STARTED = Math.floor(Date.now() / 1000);

/** A `Deno.serve` handler for `model`. */
export function openAiHandler(model: ServedModel, options: ServeOptions = {}) {
  const key = options.apiKey !== undefined ? digest(options.apiKey) : undefined;
  const metrics = new Metrics();
  return async (request: Request): Promise<Response> => {
    const t0 = performance.now();
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    const requestId = requestIdOf(request);
    const origin = request.headers.get("origin");
    const corsAllowed = origin !== null && (options.corsOrigins ?? []).includes(origin);
    const note: Note = {};
    let response: Response;
    try {
      checkCaller(request, origin, corsAllowed, options);
      if (request.method === "OPTIONS") response = preflight(request);
      else response = await route(request, path, model, { ...options, key, metrics }, note);
    } catch (e) {
      const error = e instanceof ApiError ? e : internal(e);
      response = json(error.body(), error.status);
    }
    response.headers.set("x-request-id", requestId);
    if (corsAllowed) {
      response.headers.set("access-control-allow-origin", origin);
      response.headers.set("vary", "Origin");
    }
    // A stream is logged when it ends.
    const log = () => {
      metrics.record(path, response.status, note);
      if (!options.log) return;
      const parts = [request.method, path, String(response.status)];
      if (note.prompt !== undefined) {
        parts.push(`prompt ${note.prompt}`, `completion ${note.completion}`);
      }
      if (note.ttft !== undefined) parts.push(`ttft ${(note.ttft * 1000).toFixed(0)} ms`);
      if (note.tps !== undefined) parts.push(`${note.tps.toFixed(1)} tokens/s`);
      parts.push(`${(performance.now() - t0).toFixed(0)} ms`, `id ${requestId}`);
      options.log(parts.join(" "));
    };
    if (note.streamed) note.streamed.then(log);
    else log();
    return response;
  };
}

/** What the log line of a request reports. */
interface Note {
  prompt?: number;
  completion?: number;
  ttft?: number;
  tps?: number;
  /** Settles when a streamed reply has ended. */
  streamed?: Promise<unknown>;
}

async function route(
  request: Request,
  path: string,
  model: ServedModel,
  options: ServeOptions & { key: Promise<Uint8Array> | undefined; metrics: Metrics },
  note: Note,
): Promise<Response> {
  if (path === "/health") {
    allow(request, "GET");
    return json({
      status: options.draining?.() ? "stopping" : "ok",
      model: model.id,
      ...model.engine.load,
    });
  }
  if (path === "/metrics") {
    allow(request, "GET");
    return new Response(options.metrics.text(model.engine.load), {
      headers: { "content-type": "text/plain; version=0.0.4" },
    });
  }
  const tokenizing = path === "/tokenize" || path === "/detokenize";
  if (!path.startsWith("/v1/") && !tokenizing) {
    throw new ApiError(404, `Unknown route ${path}`, undefined, null, "not_found");
  }
  if (options.key !== undefined) {
    const given = /^\s*bearer\s+(.*?)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (given === undefined || !sameBytes(await digest(given), await options.key)) {
      throw new ApiError(
        401,
        "Incorrect or missing API key: send Authorization: Bearer <key>",
        undefined,
        null,
        "invalid_api_key",
      );
    }
  }
  if (tokenizing) {
    allow(request, "POST");
    const body = parseJsonBody(await readBody(request, options.maxBodyBytes ?? MAX_BODY_BYTES));
    return json(path === "/tokenize" ? tokenize(body, model) : detokenize(body, model));
  }
  if (path === "/v1/models") {
    allow(request, "GET");
    return json({ object: "list", data: [modelObject(model)] });
  }
  if (path.startsWith("/v1/models/")) {
    allow(request, "GET");
    if (decodeURIComponent(path.slice("/v1/models/".length)) !== model.id) throw unknownModel(path);
    return json(modelObject(model));
  }
  const kind = path === "/v1/chat/completions"
    ? "chat"
    : path === "/v1/completions"
    ? "completion"
    : undefined;
  if (!kind) throw new ApiError(404, `Unknown route ${path}`, undefined, null, "not_found");
  allow(request, "POST");
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) {
    throw new ApiError(
      415,
      `Content-Type is ${type ? `'${type}'` : "missing"}: send the body as application/json`,
      undefined,
      null,
      "unsupported_media_type",
    );
  }
  if (options.draining?.()) throw shuttingDown();
  const body = parseJsonBody(await readBody(request, options.maxBodyBytes ?? MAX_BODY_BYTES));
  const r = fieldErrors(() => parseRequest(body, kind));
  if (r.model === undefined) {
    throw new ApiError(
      400,
      "you must provide a model parameter",
      undefined,
      "model",
      "missing_required_parameter",
    );
  }
  if (r.model !== model.id) throw unknownModel(r.model);
  const promptIds = await tokens(r, model);
  note.prompt = promptIds.length;
  if (promptIds.length >= model.contextLength) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${model.contextLength} tokens; the prompt has ${promptIds.length}`,
      undefined,
      kind === "chat" ? "messages" : "prompt",
      "context_length_exceeded",
    );
  }
  const maxTokens = Math.min(r.maxTokens ?? Infinity, model.contextLength - promptIds.length);
  // Without a seed, each request draws its own (as OpenAI's sampling is not repeatable).
  const sampling = mergeSampling(model.session.sampling, {
    seed: (Math.random() * 2 ** 32) >>> 0,
    ...r.sampling,
  });
  const base = completionBase(kind, model.id);
  /**
   * Submits the request's `n` choices (choice i draws with seed + i); the first's prompt is
   * copied, not computed, for the others. `onText(i, text)` streams them.
   */
  const submit = (onText?: (choice: number, t: string) => void, signal?: AbortSignal) => {
    const choices: Promise<EngineResult>[] = [];
    const cancel = new AbortController();
    const both = signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal;
    try {
      for (let i = 0; i < r.n; i++) {
        choices.push(model.engine.submit({
          promptIds,
          sampling: { ...sampling, seed: (sampling.seed + i) >>> 0 },
          maxTokens,
          stop: r.stop ?? model.session.stop,
          onText: onText && ((t) => onText(i, t)),
          signal: both,
        }));
      }
    } catch (e) {
      cancel.abort(); // the choices already queued go too
      for (const c of choices) c.catch(() => {});
      if (e instanceof QueueFullError) {
        throw new ApiError(
          429,
          `The server is busy (${e.message}); retry later`,
          "rate_limit_exceeded",
          null,
          "rate_limit_exceeded",
        );
      }
      throw e;
    }
    return choices.map((c) =>
      c.catch((e) => {
        throw e instanceof ClosedError ? shuttingDown() : e;
      })
    );
  };
  const record = (results: readonly EngineResult[]) => {
    note.completion = results.reduce((n, x) => n + x.tokens.length, 0);
    note.ttft = Math.min(...results.map((x) => x.firstTokenSeconds));
    note.tps = results[0]!.timings.decodeTokensPerSecond;
  };
  if (!r.stream) {
    const results = await Promise.all(submit());
    record(results);
    return json(completionObject(kind, base, results));
  }
  const { response, finished } = stream(kind, base, r, submit, record);
  note.streamed = finished;
  return response;
}

/**
 * A streamed reply: server-sent events, `data: {chunk}` per piece of text (each choice's with its
 * index), a last chunk per choice with its finish reason, then `data: [DONE]`.
 */
function stream(
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

/**
 * The prompt's token ids, by the session's one convention. A text certainly longer than the
 * context is refused after counting only what proves it.
 */
async function tokens(r: GenerationRequest, model: ServedModel): Promise<number[]> {
  const { session } = model;
  const text = "messages" in r.input
    ? r.input.messages.map((m) => m.content).join("\n")
    : "text" in r.input
    ? r.input.text
    : undefined;
  if (text !== undefined && session.tokenizer) {
    const count = await exceedsTokens(session.tokenizer, text, model.contextLength);
    if (count !== undefined) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${model.contextLength} tokens; the prompt has more than ${count}`,
        undefined,
        "messages" in r.input ? "messages" : "prompt",
        "context_length_exceeded",
      );
    }
  }
  if ("messages" in r.input && !session.template) {
    throw new ApiError(
      400,
      `${model.id} has no chat template: use /v1/completions`,
      undefined,
      "messages",
      "unsupported_value",
    );
  }
  // A completion's prompt is plain text, never put in the chat template.
  return fieldErrors(() => promptIds(session, r.input, { raw: !("messages" in r.input) }));
}

/**
 * `POST /tokenize` (vLLM's shape): `{prompt}` or `{messages}` → the ids the model would see,
 * by the same convention as a completion, with their count and the context length.
 */
function tokenize(body: unknown, model: ServedModel) {
  const o = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const r = fieldErrors(() =>
    parseRequest({ model: model.id, ...o }, o.messages !== undefined ? "chat" : "completion")
  );
  const tokens = fieldErrors(() =>
    promptIds(model.session, r.input, { raw: !("messages" in r.input) })
  );
  return { tokens, count: tokens.length, max_model_len: model.contextLength };
}

/** `POST /detokenize` (vLLM's shape): `{tokens}` → `{prompt}`, special tokens included. */
function detokenize(body: unknown, model: ServedModel) {
  const tokens = (body as { tokens?: unknown } | null)?.tokens;
  const vocab = model.session.model.config.vocabSize;
  if (
    !Array.isArray(tokens) || !tokens.every((t) => Number.isSafeInteger(t) && t >= 0 && t < vocab)
  ) {
    throw new ApiError(
      400,
      `Invalid 'tokens': expected an array of token ids below ${vocab}`,
      undefined,
      "tokens",
    );
  }
  return { prompt: model.session.tokenizer?.decode(tokens) ?? "" };
}

/** Runs `f`; a field error is a 400 naming the field. */
function fieldErrors<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof FieldError)) throw e;
    const param = e.field === "prompt_ids" ? "prompt" : e.field === "body" ? null : e.field;
    throw new ApiError(400, e.message, undefined, param, e.code);
  }
}

function modelObject(model: ServedModel) {
  return { id: model.id, object: "model", created: STARTED, owned_by: "wgllama" };
}

function unknownModel(name: string): ApiError {
  return new ApiError(
    404,
    `The model '${name}' does not exist`,
    undefined,
    "model",
    "model_not_found",
  );
}

function allow(request: Request, method: string): void {
  if (request.method !== method) {
    throw new ApiError(
      405,
      `${request.method} is not allowed here: use ${method}`,
      undefined,
      null,
      "method_not_allowed",
    );
  }
}

/**
 * Refuses what a browser on another site, or a DNS-rebinding page, could send: an Origin not
 * in --cors-origin, and (bound to loopback) a Host that names another machine.
 */
function checkCaller(
  request: Request,
  origin: string | null,
  corsAllowed: boolean,
  options: ServeOptions,
): void {
  if (options.loopback) {
    const host = request.headers.get("host");
    const name = host?.replace(/:\d+$/, "").toLowerCase();
    if (host !== null && !["localhost", "127.0.0.1", "[::1]"].includes(name!)) {
      throw new ApiError(
        403,
        `Host '${host}' is not this server: it listens on loopback (localhost, 127.0.0.1, [::1])`,
        undefined,
        null,
        "forbidden_host",
      );
    }
  }
  if (origin !== null && !corsAllowed) {
    throw new ApiError(
      403,
      `Origin '${origin}' may not call this server: start it with --cors-origin ${origin}`,
      undefined,
      null,
      "forbidden_origin",
    );
  }
}

/** The answer to a CORS preflight from an allowed origin. */
function preflight(request: Request): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ??
        "authorization, content-type",
      "access-control-max-age": "600",
    },
  });
}

/** The client's x-request-id when it is a sane token, else a new one. */
function requestIdOf(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given && /^[\x21-\x7e]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/** SHA-256 of a key: compared digest to digest, the time taken says nothing of the key. */
async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Equal bytes, compared in time that depends only on their length. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function shuttingDown(): ApiError {
  return new ApiError(503, "The server is shutting down", "server_error", null, "shutting_down");
}

function internal(e: unknown): ApiError {
  return new ApiError(500, `Internal error: ${e instanceof Error ? e.message : e}`, "server_error");
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}
