/**
 * `wgllama bench`: the benchmark of `model/benchmark.ts` on a MODEL folder or a random
 * Llama-3-shaped model generated for the run (and removed after it, also when interrupted).
 * @module
 */
import { EXIT, InputError, UsageError } from "../errors.ts";
import { runBenchmark } from "../model/benchmark.ts";
import { openCheckpoint } from "../model/checkpoint.ts";
import { type ShapeName, SHAPES, writeSyntheticModel } from "../model/synthetic.ts";
import { command } from "./args.ts";
import { err, out } from "./output.ts";
import { progressBar } from "./progress.ts";
import { weightsFlag } from "./session.ts";

const USAGE = `Usage: wgllama bench [MODEL | --shape 160m|1b|3b|8b] [options]

Measures, in one run: copy and read bandwidth and the f32 multiply-add rate of the device (our
kernels), load time, prefill tokens/s and prefill efficiency = the pass's FLOPs ÷ time ÷ that
rate, decode tokens/s (greedy, and sampled as Llama 3 Instruct does: T 0.6, top-p 0.9, top-k 50)
at several context lengths, and decode efficiency = bytes read per token ÷ time per token ÷ read
bandwidth. Every pipeline is compiled and warmed (a decode step and a prompt chunk) before any
timing. Without MODEL a random bf16 model of the named shape (default 1b) is generated into a
temp folder and loaded through the normal path.

  --shape S           160m | 1b | 3b | 8b (Llama 3 vocabulary and head layout)
  --prefill LIST      prompt lengths to time (default 128,512)
  --contexts LIST     cached tokens before timing decode (default 128,2048; filled without compute)
  --steps N           decode steps timed per context (default 32)
  --batch LIST        also decode LIST sequences at once (e.g. 1,4,8) at the first context and report
                      the aggregate tokens/s
  --weights F         bf16 | q8 | q5 | q4: pack at load (efficiency counts the packed bytes)
  --profile           per-kernel time of one prefill pass per prompt length and of one decode step
                      at each context, with GB/s (timestamp-query)
  --json              print one JSON object
`;

function listFlag(flag: string, value: string): number[] {
  const parts = value.split(",").map((s) => Number(s.trim()));
  if (!parts.every((n) => Number.isInteger(n) && n > 0)) {
    throw new UsageError(`--${flag} is "${value}": expected comma-separated positive integers`);
  }
  return parts;
}

/** The bench command. */
export const bench = command({
  name: "bench",
  summary: "measure bandwidth, load, prefill and decode speed and decode efficiency",
  usage: USAGE,
  flags: {
    shape: { type: "string" },
    prefill: { type: "string" },
    contexts: { type: "string" },
    steps: { type: "string" },
    json: { type: "boolean" },
    profile: { type: "boolean" },
    weights: { type: "string" },
    batch: { type: "string" },
  },
  async run({ values, positionals }) {
    if (positionals.length > 1 || (positionals.length === 1 && values.shape)) {
      throw new UsageError("bench: give MODEL or --shape, not both");
    }
    const shape = (values.shape ?? "1b") as ShapeName;
    if (!(shape in SHAPES)) {
      throw new UsageError(`--shape is "${shape}": expected ${Object.keys(SHAPES).join(", ")}`);
    }
    let prefills = listFlag("prefill", values.prefill ?? "128,512");
    let contexts = listFlag("contexts", values.contexts ?? "128,2048");
    const steps = listFlag("steps", values.steps ?? "32")[0]!;
    const weights = weightsFlag(values.weights);
    const batches = values.batch !== undefined ? listFlag("batch", values.batch) : [];
    if (batches.some((b) => b > 256)) {
      throw new UsageError(`--batch is "${values.batch}": expected at most 256 sequences at once`);
    }
    const log = (line: string) => values.json || err(line);

    const warnings: string[] = [];
    if (positionals[0] !== undefined) {
      // A bad MODEL fails before any work; a model trained for fewer positions than asked for is
      // timed at the positions it knows (past them its cost is the same but its output junk).
      const ckpt = openCheckpoint(positionals[0], { weightsOptional: true });
      const trained = ckpt.config.maxPositionEmbeddings;
      ckpt.close();
      const clamp = (flag: string, list: number[], most: number) => {
        if (list.every((n) => n <= most)) return list;
        const clamped = [...new Set(list.map((n) => Math.min(n, most)))];
        warnings.push(
          `the model is trained for ${trained} positions: --${flag} ${list} clamped to ${clamped}`,
        );
        return clamped;
      };
      prefills = clamp("prefill", prefills, trained);
      contexts = clamp("contexts", contexts, Math.max(1, trained - steps - 2)); // + warm-up, profile
      for (const w of warnings) err(`wgllama: note: ${w}`);
    }
    let dir = positionals[0];
    // The generated model (0.3–16 GB) must not outlive the run, also when it is interrupted: the
    // listeners are in place before the folder exists.
    let temp: string | undefined;
    const removeTemp = () => temp && Deno.removeSync(temp, { recursive: true });
    const onSignal = (code: number) => () => {
      removeTemp();
      Deno.exit(code);
    };
    const signals = dir === undefined
      ? ([["SIGINT", onSignal(EXIT.interrupted)], ["SIGTERM", onSignal(EXIT.terminated)]] as const)
      : [];
    for (const [signal, handler] of signals) Deno.addSignalListener(signal, handler);
    try {
      if (dir === undefined) temp = benchFolder(shape);
      if (temp) {
        log(`generating a random ${shape} model…`);
        writeSyntheticModel(temp, shape);
        dir = temp;
      }
      const report = await runBenchmark(dir!, {
        prefills,
        contexts,
        steps,
        batches,
        weights,
        profile: values.profile ?? false,
        log,
        onProgress: values.json ? undefined : progressBar("Loading"),
      });
      const result = {
        ...report,
        model: temp ? `random ${shape} (bf16)` : dir!,
        ...(warnings.length ? { warnings } : {}),
      };
      const batchRate = result.decode_batch_tokens_per_s ?? {};
      if (values.json) out(JSON.stringify(result, null, 2) + "\n");
      else {
        out(
          `${result.model} on ${result.device}\n` +
            `  bandwidth   copy ${result.copy_bandwidth_gb_s.toFixed(2)} GB/s, read ${
              result.read_bandwidth_gb_s.toFixed(2)
            } GB/s; f32 multiply-add ${(result.fma_peak_flops / 1e9).toFixed(1)} GFLOP/s\n` +
            `  load        ${(result.weight_bytes / 1e9).toFixed(2)} GB in ${
              result.load_seconds.toFixed(2)
            } s (${result.load_gb_s.toFixed(2)} GB/s)\n` +
            prefills.map((n) =>
              `  prefill     ${n} tokens: ${
                result.prefill_tokens_per_s[n]!.toFixed(1)
              } tokens/s, efficiency ${result.prefill_flop_efficiency[n]!.toFixed(2)} (perplexity ${
                result.perplexity_tokens_per_s[n]!.toFixed(1)
              })\n`
            )
              .join("") +
            contexts.map((c) =>
              `  decode      context ${c}: ${
                result.decode_tokens_per_s[c]!.toFixed(2)
              } tokens/s, efficiency ${
                result.decode_efficiency[c]!.toFixed(2)
              }; sampled (T 0.6, top-p 0.9, top-k 50) ${
                result.decode_sampled_tokens_per_s[c]!.toFixed(2)
              } tokens/s\n`
            ).join("") +
            batches.map((b) =>
              `  batch       ${b} sequences: ${batchRate[b]!.toFixed(2)} tokens/s in all\n`
            ).join("") +
            `  per token   ${result.launches_per_token} launches, ${
              result.submits_per_token.toFixed(3)
            } submits, ${result.readbacks_per_token.toFixed(3)} readbacks\n` +
            `  peak RSS    ${(result.peak_rss_bytes / 1e9).toFixed(2)} GB\n`,
        );
      }
      return 0;
    } finally {
      for (const [signal, handler] of signals) Deno.removeSignalListener(signal, handler);
      removeTemp();
    }
  },
});

/** The temp folder bench writes its random model to; a failure is one line naming the folder. */
function benchFolder(shape: string): string {
  try {
    return Deno.makeTempDirSync({ prefix: `wgllama_bench_${shape}_` });
  } catch (e) {
    let where = "the temp folder";
    try {
      where = Deno.env.get("TMPDIR") || "/tmp";
    } catch { /* no env access: name it generically */ }
    const why = e instanceof Deno.errors.NotCapable
      ? "wgllama was not given write access (--allow-write; deno task bench has it)"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new InputError(
      `Cannot write ${where}: ${why}; bench --shape writes its random model there (or give MODEL)`,
    );
  }
}
