/** `wgllama serve [MODEL]`: an OpenAI-compatible HTTP server on continuous batching. */
import { EXIT, InputError } from "../errors.ts";
import { Engine } from "../generate/engine.ts";
import { pathIs } from "../io/hf_folder.ts";
import { MAX_BODY_BYTES, openAiHandler } from "../serve/server.ts";
import { command, intFlag, MODEL_HELP, modelArg, numberFlag } from "./args.ts";
import { err } from "./output.ts";
import { GENERATION_FLAGS, openSession } from "./session.ts";

const USAGE =
  `Usage: wgllama serve [MODEL] [--host 127.0.0.1] [--port 8080] [--parallel N] [options]

Serves MODEL over HTTP with OpenAI's API, so OpenAI client libraries, editor plugins and agent
frameworks talk to it unchanged:
  POST /v1/chat/completions   messages through the model's chat template (stream: server-sent events)
  POST /v1/completions        a plain prompt (text or token ids)
  GET  /v1/models, /health
Requests join the running batch as sequences finish (continuous batching: --parallel sequences
decode together); a prompt that starts with tokens an earlier request left in a free slot's cache
reuses them (usage.prompt_tokens_details.cached_tokens). Fields: model, messages | prompt,
max_tokens | max_completion_tokens, temperature, top_p, top_k, min_p, repetition_penalty, seed,
stop, n (≤ 8), stream, stream_options.include_usage, logprobs + top_logprobs (chat), logprobs +
echo (completions; max_tokens 0 with echo scores the prompt only), response_format (json_object,
json_schema: masked on the GPU, so replies parse), tools + tool_choice (chat, through a template
that takes tools; required and named calls constrained); other OpenAI fields are a 400 naming them
unless at their defaults (none is silently ignored). Every bad request gets a 4xx with OpenAI's error
object; the server keeps serving. SIGINT or SIGTERM: a graceful stop. New requests are refused (503) and every running
or queued request is finished; after --shutdown-timeout seconds, the rest end with finish_reason
"interrupted" (streams: a last chunk, then data: [DONE]). Then exit 0. A second signal ends the
process at once.

Safety: bodies over --max-body get 413 unread, and prompts longer than the context get 400 after
counting only what proves it. POST bodies must be application/json, so a browser's form post
from another site cannot start a generation. Browsers may call only from --cors-origin origins.
Bound to loopback, the server refuses a Host header that names another machine (DNS rebinding).
Every response carries x-request-id (the client's, or a new one).

  --host H          address to bind (default 127.0.0.1, this machine only)
  --port P          port (default 8080; 0 picks a free one)
  --parallel N      sequences decoding together (default 4)
  --queue N         requests that may wait for a slot; beyond, 429 (default 64)
  --api-key KEY     require Authorization: Bearer KEY on /v1/ routes (401 without); default
                    $WGLLAMA_API_KEY, which other users cannot read in ps
  --max-body MB     largest request body in MiB (default 4)
  --cors-origin O   let browser pages from origin O call the server (repeatable, e.g.
                    http://localhost:3000); default: none
  --shutdown-timeout S  seconds a stop waits for running requests (default 8, under docker
                    stop's 10)
  --model-id ID     the name clients use in "model" (default: the MODEL argument's last part)
  --quiet           no request log (one line per request on stderr)
  --ctx N, --weights F, --temperature T, --top-p P, --top-k K, --max-tokens N, ...: defaults of
                    every request, as for wgllama run (requests override temperature, top_p,
                    top_k, seed, max_tokens; max_tokens defaults to the rest of the context)

${MODEL_HELP}
`;

/** Steps decoded between admissions: a new request waits at most this many for its prefill. */
const SERVE_STEPS = 8;

/** The serve command. */
export const serve = command({
  name: "serve",
  summary:
    "an OpenAI-compatible HTTP server (chat and completions, streaming, continuous batching)",
  usage: USAGE,
  flags: {
    ...GENERATION_FLAGS,
    host: { type: "string" },
    port: { type: "string" },
    parallel: { type: "string" },
    queue: { type: "string" },
    "api-key": { type: "string" },
    "max-body": { type: "string" },
    "cors-origin": { type: "string", multiple: true },
    "shutdown-timeout": { type: "string" },
    "model-id": { type: "string" },
    quiet: { type: "boolean" },
  },
  async run({ values, positionals }) {
    const spec = modelArg("serve", positionals);
    const hostname = values.host ?? "127.0.0.1";
    const port = values.port !== undefined ? intFlag("port", values.port, 0, 65535) : 8080;
    const parallel = values.parallel !== undefined
      ? intFlag("parallel", values.parallel, 1, 64)
      : 4;
    const queueLimit = values.queue !== undefined ? intFlag("queue", values.queue, 0) : 64;
    const maxBodyMiB = values["max-body"] !== undefined
      ? numberFlag("max-body", values["max-body"], 0.001, 1024)
      : MAX_BODY_BYTES / 2 ** 20;
    const shutdownSeconds = values["shutdown-timeout"] !== undefined
      ? numberFlag("shutdown-timeout", values["shutdown-timeout"], 0, 86400)
      : 8;
    const apiKey = values["api-key"] ?? (Deno.env.get("WGLLAMA_API_KEY") || undefined);
    const loopback = isLoopback(hostname);
    const session = await openSession(spec, values, {
      slots: parallel,
      tokenizerFor: "serve reads and writes text",
    });
    const engine = new Engine(session.model, {
      terminators: session.terminators,
      decode: session.decode,
      queueLimit,
      maxSteps: SERVE_STEPS,
    });
    // A folder is named by its last part; a hub id or the built-in model by itself.
    const id = values["model-id"] ??
      (pathIs(spec, "dir") ? spec.replace(/\/+$/, "").split("/").at(-1)! : spec);
    const handler = openAiHandler({
      id,
      session,
      engine,
      contextLength: session.model.contextLength,
    }, {
      apiKey,
      log: values.quiet ? undefined : err,
      maxBodyBytes: Math.round(maxBodyMiB * 2 ** 20),
      corsOrigins: values["cors-origin"] ?? [],
      loopback,
      draining: () => stop.signal.aborted,
    });
    const stop = new AbortController();
    const signals = ["SIGINT", "SIGTERM"] as const;
    const onSignal = () => {
      if (stop.signal.aborted) Deno.exit(EXIT.interrupted); // a second signal: at once
      stop.abort();
    };
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname,
        port,
        onListen: (a) => {
          err(
            `wgllama serve: ${id} on http://${a.hostname}:${a.port}/v1 (${parallel} parallel, context ${session.model.contextLength})`,
          );
          if (!loopback && apiKey === undefined) {
            err(
              `wgllama: warning: --host ${hostname} is reachable from the network and no --api-key (or WGLLAMA_API_KEY) is set: anyone who reaches it can use it`,
            );
          }
        },
      }, handler);
    } catch (e) {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      session.close();
      // Only listening can fail here: a bad --host or --port is the user's, in one line.
      const why = e instanceof Deno.errors.AddrInUse
        ? "the address is in use"
        : e instanceof Deno.errors.NotCapable
        ? `wgllama was not given network access (--allow-net=${hostname}:${port})`
        : e instanceof Error
        ? e.message
        : String(e);
      throw new InputError(`Cannot listen on ${hostname}:${port}: ${why}`);
    }
    try {
      await new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
      // Graceful: no new connections, new requests 503; running ones finish, or are cut short.
      const { active, waiting } = engine.load;
      err(
        `wgllama serve: stopping: finishing ${
          active + waiting
        } requests (at most ${shutdownSeconds} s)`,
      );
      const closed = server.shutdown();
      const timer = setTimeout(() => engine.close(), shutdownSeconds * 1000);
      await engine.idle();
      clearTimeout(timer);
      await engine.close();
      await closed;
      return EXIT.ok;
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      session.close();
    }
  },
});

/** Whether `host` is a loopback address or name (only this machine can reach it). */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}
