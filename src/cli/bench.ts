/**
 * `wgllama bench`: one run that reports the device's bandwidth (our own kernels), load speed,
 * prefill and decode tokens/s, and decode efficiency = bytes read per token ÷ time per token ÷
 * measured read bandwidth, on a random Llama-3-shaped model or a MODEL folder.
 * @module
 */
import { EXIT, UsageError } from "../errors.ts";
import { measureBandwidth } from "../gpu/bandwidth.ts";
import { openGpu } from "../gpu/device.ts";
import { Ops } from "../gpu/ops.ts";
import { MAX_BATCH } from "../generate/generate.ts";
import { GREEDY } from "../generate/sampling.ts";
import { IGNORE_INDEX } from "../model/llama.ts";
import { openCheckpoint } from "../model/checkpoint.ts";
import { loadModel } from "../model/load.ts";
import { type ShapeName, SHAPES, writeSyntheticModel } from "../model/synthetic.ts";
import { type Command, parse } from "./args.ts";
import { err, out } from "./output.ts";
import { progressBar } from "./progress.ts";
import { weightsFlag } from "./session.ts";

const USAGE = `Usage: wgllama bench [MODEL | --shape 160m|1b|3b|8b] [options]

Measures, in one run: copy and read bandwidth of the device (our kernels), load time, prefill
tokens/s, decode tokens/s at several context lengths, and decode efficiency = bytes read per
token ÷ time per token ÷ read bandwidth. Without MODEL a random bf16 model of the named shape
(default 1b) is generated into a temp folder and loaded through the normal path.

  --shape S           160m | 1b | 3b | 8b (Llama 3 vocabulary and head layout)
  --prefill LIST      prompt lengths to time (default 128,512)
  --contexts LIST     cached tokens before timing decode (default 128,2048; filled without compute)
  --steps N           decode steps timed per context (default 32)
  --batch LIST        also decode LIST sequences at once (e.g. 1,4,8) at the first context and report
                      the aggregate tokens/s
  --weights F         bf16 | q8 | q5 | q4: pack at load (efficiency counts the packed bytes)
  --profile           per-kernel time and GB/s of one decode step at each context (timestamp-query)
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
export const bench: Command = {
  name: "bench",
  summary: "measure bandwidth, load, prefill and decode speed and decode efficiency",
  usage: USAGE,
  async run(args) {
    const { values, positionals } = parse("bench", args, {
      shape: { type: "string" },
      prefill: { type: "string" },
      contexts: { type: "string" },
      steps: { type: "string" },
      json: { type: "boolean" },
      profile: { type: "boolean" },
      weights: { type: "string" },
      batch: { type: "string" },
    });
    if (values.help) return (out(USAGE), 0);
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
    let peakRss = Deno.memoryUsage().rss;
    const sampleRss = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));

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
    const gpu = await openGpu();
    const bandwidth = await measureBandwidth(gpu, new Ops(gpu));
    log(
      `device: ${gpu.info.description}; copy ${(bandwidth.copy / 1e9).toFixed(1)} GB/s, read ${
        (bandwidth.read / 1e9).toFixed(1)
      } GB/s`,
    );
    let dir = positionals[0];
    const temp = dir === undefined
      ? Deno.makeTempDirSync({ prefix: `wgllama_bench_${shape}_` })
      : undefined;
    // The generated model (0.3–16 GB) must not outlive the run, also when it is interrupted.
    const removeTemp = () => temp && Deno.removeSync(temp, { recursive: true });
    const onSignal = (code: number) => () => {
      removeTemp();
      Deno.exit(code);
    };
    const signals = temp
      ? ([["SIGINT", onSignal(EXIT.interrupted)], ["SIGTERM", onSignal(143)]] as const)
      : [];
    for (const [signal, handler] of signals) Deno.addSignalListener(signal, handler);
    try {
      if (temp) {
        log(`generating a random ${shape} model…`);
        writeSyntheticModel(temp, shape);
        dir = temp;
      }
      const contextLength = Math.max(...contexts, ...prefills) + steps + 2; // + warm-up and profile steps
      const loaded = await loadModel(dir!, {
        weights,
        slots: Math.max(1, ...batches),
        gpu,
        contextLength,
        onProgress: values.json ? undefined : progressBar("Loading"),
      });
      sampleRss();
      const { model } = loaded;
      const vocab = model.config.vocabSize;
      const prompt = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
      log(
        `loaded ${(loaded.weightBytes / 1e9).toFixed(2)} GB in ${loaded.loadSeconds.toFixed(2)} s`,
      );
      model.setSampling(GREEDY);
      await model.step([1], 0); // compile and warm every pipeline

      const prefill: Record<string, number> = {};
      for (const n of prefills) {
        model.reset();
        const t0 = performance.now();
        await model.step(prompt(n), 0);
        prefill[n] = n / ((performance.now() - t0) / 1000);
        log(`prefill ${n} tokens: ${prefill[n]!.toFixed(1)} tokens/s`);
        sampleRss();
      }
      // The same passes scored as perplexity does: every position's logits and loss, on the GPU.
      const scoring: Record<string, number> = {};
      for (const n of prefills) {
        const ids = prompt(n);
        const t0 = performance.now();
        await model.crossEntropy(ids, ids.map((_, t) => ids[t + 1] ?? IGNORE_INDEX));
        scoring[n] = n / ((performance.now() - t0) / 1000);
        log(`perplexity ${n} tokens: ${scoring[n]!.toFixed(1)} tokens/s`);
        sampleRss();
      }

      const decode: Record<string, number> = {};
      const profiles: Record<string, unknown> = {};
      const efficiency: Record<string, number> = {};
      let perToken = { submits: 0, readbacks: 0 };
      for (const ctx of contexts) {
        model.reset();
        model.assumeCached(ctx);
        let id = await model.step([1]); // warm at this length
        const before = { ...model.counters };
        const t0 = performance.now();
        for (let done = 0; done < steps;) {
          const n = Math.min(MAX_BATCH, steps - done);
          id = (await model.decode(id, n)).at(-1)!;
          done += n;
        }
        const seconds = (performance.now() - t0) / 1000 / steps;
        perToken = {
          submits: (model.counters.submits - before.submits) / steps,
          readbacks: (model.counters.readbacks - before.readbacks) / steps,
        };
        decode[ctx] = 1 / seconds;
        efficiency[ctx] = model.decodeBytes(ctx + steps / 2) / seconds / bandwidth.read;
        if (values.profile) {
          const rows = await model.profileDecode();
          const total = rows.reduce((a, r) => a + r.seconds, 0);
          profiles[ctx] = rows;
          log(
            `profile of one decode step at context ${model.length}: ${
              (total * 1000).toFixed(2)
            } ms of kernel time`,
          );
          for (const r of rows) {
            const gbs = r.weightBytes ? `${(r.weightBytes / r.seconds / 1e9).toFixed(2)} GB/s` : "";
            log(
              `  ${r.name.padEnd(14)} ${(r.seconds * 1000).toFixed(3).padStart(9)} ms ${
                (100 * r.seconds / total).toFixed(1).padStart(5)
              }%  ×${r.launches}  ${gbs}`,
            );
          }
        }
        log(
          `decode at context ${ctx}: ${decode[ctx]!.toFixed(2)} tokens/s (${
            (seconds * 1000).toFixed(1)
          } ms/token), ` +
            `efficiency ${efficiency[ctx]!.toFixed(2)}`,
        );
        sampleRss();
      }
      const batchRate: Record<string, number> = {};
      for (const B of batches) {
        model.reset();
        const rows = Array.from({ length: B }, (_, slot) => ({ slot, id: 1 }));
        for (const r of rows) model.assumeCached(contexts[0]!, r.slot);
        let last = (await model.decodeRows(rows, 1)).map((ids) => ids.at(-1)!); // warm
        const t0 = performance.now();
        for (let done = 0; done < steps;) {
          const n = Math.min(MAX_BATCH, steps - done);
          last = (await model.decodeRows(rows.map((r, b) => ({ slot: r.slot, id: last[b]! })), n))
            .map((ids) => ids.at(-1)!);
          done += n;
        }
        batchRate[B] = (B * steps) / ((performance.now() - t0) / 1000);
        log(
          `decode ${B} sequences at once at context ${contexts[0]}: ${
            batchRate[B]!.toFixed(2)
          } tokens/s in all`,
        );
      }
      const result = {
        device: gpu.info.description,
        model: temp ? `random ${shape} (bf16)` : dir,
        weights: weights ?? "stored",
        copy_bandwidth_gb_s: bandwidth.copy / 1e9,
        read_bandwidth_gb_s: bandwidth.read / 1e9,
        weight_bytes: loaded.weightBytes,
        load_seconds: loaded.loadSeconds,
        load_gb_s: loaded.weightBytes / 1e9 / loaded.loadSeconds,
        prefill_tokens_per_s: prefill,
        perplexity_tokens_per_s: scoring,
        decode_tokens_per_s: decode,
        decode_efficiency: efficiency,
        decode_bytes_per_token: Object.fromEntries(contexts.map((c) => [c, model.decodeBytes(c)])),
        ...(batches.length ? { decode_batch_tokens_per_s: batchRate } : {}),
        submits_per_token: perToken.submits,
        readbacks_per_token: perToken.readbacks,
        peak_rss_bytes: peakRss,
        ...(warnings.length ? { warnings } : {}),
        ...(values.profile ? { profile: profiles } : {}),
      };
      if (values.json) out(JSON.stringify(result, null, 2) + "\n");
      else {
        out(
          `${result.model} on ${result.device}\n` +
            `  bandwidth   copy ${result.copy_bandwidth_gb_s.toFixed(2)} GB/s, read ${
              result.read_bandwidth_gb_s.toFixed(2)
            } GB/s\n` +
            `  load        ${(result.weight_bytes / 1e9).toFixed(2)} GB in ${
              result.load_seconds.toFixed(2)
            } s (${result.load_gb_s.toFixed(2)} GB/s)\n` +
            prefills.map((n) =>
              `  prefill     ${n} tokens: ${prefill[n]!.toFixed(1)} tokens/s (perplexity ${
                scoring[n]!.toFixed(1)
              })\n`
            )
              .join("") +
            contexts.map((c) =>
              `  decode      context ${c}: ${decode[c]!.toFixed(2)} tokens/s, efficiency ${
                efficiency[c]!.toFixed(2)
              }\n`
            ).join("") +
            batches.map((b) =>
              `  batch       ${b} sequences: ${batchRate[b]!.toFixed(2)} tokens/s in all\n`
            ).join("") +
            `  per token   ${perToken.submits.toFixed(3)} submits, ${
              perToken.readbacks.toFixed(3)
            } readbacks\n` +
            `  peak RSS    ${(peakRss / 1e9).toFixed(2)} GB\n`,
        );
      }
      gpu.device.destroy();
      return 0;
    } finally {
      for (const [signal, handler] of signals) Deno.removeSignalListener(signal, handler);
      removeTemp();
    }
  },
};
