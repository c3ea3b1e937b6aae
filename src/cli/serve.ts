/** `wgllama serve [MODEL]`: an OpenAI-compatible HTTP server on continuous batching. */
import { EXIT, InputError } from "../errors.ts";
import { Engine } from "../generate/engine.ts";
import { pathIs } from "../io/hf_folder.ts";
import { openAiHandler } from "../serve/server.ts";
import { command, intFlag, MODEL_HELP, modelArg } from "./args.ts";
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
max_tokens | max_completion_tokens, temperature, top_p, top_k, seed, stop, n = 1, stream,
stream_options.include_usage. Every bad request gets a 4xx with OpenAI's error object; the server
keeps serving. SIGINT or SIGTERM: stop accepting, end running streams, exit 0.

  --host H          address to bind (default 127.0.0.1, this machine only)
  --port P          port (default 8080; 0 picks a free one)
  --parallel N      sequences decoding together (default 4)
  --queue N         requests that may wait for a slot; beyond, 429 (default 64)
  --api-key KEY     require Authorization: Bearer KEY on /v1/ routes (401 without)
  --model-id ID     the name clients use in "model" (default: the MODEL argument's last part)
  --quiet           no request log (one line per request on stderr)
  --ctx N, --weights F, --temperature T, --top-p P, --top-k K, --max-tokens N, ...: defaults of
                    every request, as for wgllama run (requests override temperature, top_p,
                    top_k, seed, max_tokens; max_tokens defaults to the rest of the context)

${MODEL_HELP}
`;

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
    const session = await openSession(spec, values, {
      slots: parallel,
      tokenizerFor: "serve reads and writes text",
    });
    const tokenizer = session.tokenizer!;
    const engine = new Engine(session.model, {
      terminators: session.terminators,
      decode: (ids) => tokenizer.decode(ids, { skipSpecial: true }),
      queueLimit,
    });
    // A folder is named by its last part; a hub id or the built-in model by itself.
    const id = values["model-id"] ??
      (pathIs(spec, "dir") ? spec.replace(/\/+$/, "").split("/").at(-1)! : spec);
    const handler = openAiHandler({
      id,
      engine,
      tokenizer,
      template: session.template,
      vocabSize: session.model.config.vocabSize,
      contextLength: session.model.contextLength,
      sampling: session.sampling,
    }, { apiKey: values["api-key"], log: values.quiet ? undefined : err });
    const stop = new AbortController();
    const signals = ["SIGINT", "SIGTERM"] as const;
    const onSignal = () => stop.abort();
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname,
        port,
        signal: stop.signal,
        onListen: (a) =>
          err(
            `wgllama serve: ${id} on http://${a.hostname}:${a.port}/v1 (${parallel} parallel, context ${session.model.contextLength})`,
          ),
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
      err("wgllama serve: stopping");
      await engine.close();
      await server.finished;
      return EXIT.ok;
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      session.close();
    }
  },
});
