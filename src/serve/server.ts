/**
 * The HTTP side of `wgllama serve`: OpenAI's routes over one {@linkcode Engine} — chat and text
 * completions (whole or as server-sent events), the model list and a health check — with bearer
 * authentication, one log line per request, and a 4xx in OpenAI's error shape for every bad request.
 * @module
 */
import { constraintsFor, submitChoices } from "../generate/choices.ts";
import { ClosedError, type Engine, type EngineResult, QueueFullError } from "../generate/engine.ts";
import { mergeSampling, parseRequest } from "../generate/request.ts";
import type { Session } from "../generate/session.ts";
import { parseJsonBody, readBody } from "./bounded_text.ts";
import { checkCaller, digest, preflight, requestIdOf, sameBytes } from "./guard.ts";
import { Metrics } from "./metrics.ts";
import { ApiError, completionBase, completionObject, internal, shownFor } from "./openai.ts";
import { detokenize, fieldErrors, fieldErrorsAsync, tokenize, tokens } from "./prompt.ts";
import { stream, type StreamText } from "./stream.ts";

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
   * copied, not computed, for the others. `onText(i, text, logprobs)` streams them.
   */
  const submit = (onText?: StreamText, signal?: AbortSignal) => {
    let choices: Promise<EngineResult>[];
    try {
      choices = submitChoices(model.engine, promptIds, r, {
        sampling,
        maxTokens,
        stop: r.stop ?? model.session.stop,
      }, { onText, signal, constraints });
    } catch (e) {
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
  const shown = shownFor(r, promptIds, model.session.tokenizer!);
  const constraints = await fieldErrorsAsync(() => constraintsFor(model.session, r));
  if (!r.stream) {
    const results = await Promise.all(submit());
    record(results);
    return json(completionObject(kind, base, results, shown));
  }
  const { response, finished } = stream(kind, base, r, submit, record, shown.logprobs);
  note.streamed = finished;
  return response;
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

function shuttingDown(): ApiError {
  return new ApiError(503, "The server is shutting down", "server_error", null, "shutting_down");
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}
