/**
 * The benchmark behind `wgllama bench`: the device's copy and read bandwidth (our own kernels),
 * load speed, prefill, perplexity and decode tokens/s, and decode efficiency = bytes read per token
 * ÷ time per token ÷ measured read bandwidth, on one model folder. The CLI only prints the report.
 * @module
 */
import { measureBandwidth, measureFmaPeak } from "../gpu/bandwidth.ts";
import type { PackFormat } from "../gpu/buffers.ts";
import { openGpu } from "../gpu/device.ts";
import { Ops } from "../gpu/ops.ts";
import { IGNORE_INDEX } from "./llama.ts";
import { loadModel } from "./load.ts";
import { RING } from "./network.ts";
import { GREEDY, type SamplingParams } from "./sampling_params.ts";
import type { UploadProgress } from "./weights.ts";
import type { LlamaConfig } from "./config.ts";
import { expectedTensors } from "./tensors.ts";

/** What to measure. */
export interface BenchmarkOptions {
  /** Prompt lengths whose prefill (and perplexity pass) is timed. */
  prefills: number[];
  /** Cached tokens before each decode timing (filled without compute). */
  contexts: number[];
  /** Decode steps timed per context. */
  steps: number;
  /** Also decode this many sequences at once at the first context. */
  batches?: number[];
  weights?: PackFormat | undefined;
  /** Per-kernel timestamps of one decode step at each context. */
  profile?: boolean;
  /** Progress lines as the run goes. */
  log?: (line: string) => void;
  onProgress?: UploadProgress | undefined;
}

/** Decode steps per submit, as the generation loop's largest batches (half the sampled-id ring). */
const DECODE_BATCH = RING / 2;
/** How Llama 3 Instruct samples by default (generation_config.json, and HF's top-k 50). */
const META_SAMPLING = {
  temperature: 0.6,
  topP: 0.9,
  topK: 50,
  minP: 0,
  repetitionPenalty: 1,
  seed: 1,
};

/** Runs the benchmark on the model folder `dir`; the report is what `bench --json` prints. */
export async function runBenchmark(dir: string, options: BenchmarkOptions) {
  const { prefills, contexts, steps, weights, profile = false } = options;
  const batches = options.batches ?? [];
  const log = options.log ?? (() => {});
  let peakRss = Deno.memoryUsage().rss;
  const sampleRss = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));
  const gpu = await openGpu();
  const ops = new Ops(gpu);
  const bandwidth = await measureBandwidth(gpu, ops);
  const fmaPeak = await measureFmaPeak(gpu, ops);
  log(
    `device: ${gpu.info.description}; copy ${(bandwidth.copy / 1e9).toFixed(1)} GB/s, read ${
      (bandwidth.read / 1e9).toFixed(1)
    } GB/s, f32 multiply-add ${(fmaPeak / 1e9).toFixed(1)} GFLOP/s`,
  );
  try {
    const contextLength = Math.max(...contexts, ...prefills) + steps + 2; // + warm-up and profile steps
    const loaded = await loadModel(dir, {
      weights,
      slots: Math.max(1, ...batches),
      gpu,
      contextLength,
      onProgress: options.onProgress,
    });
    sampleRss();
    const { model } = loaded;
    const vocab = model.config.vocabSize;
    const prompt = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
    log(
      `loaded ${(loaded.weightBytes / 1e9).toFixed(2)} GB in ${loaded.loadSeconds.toFixed(2)} s`,
    );
    model.setSampling(GREEDY);
    // Compile and warm every pipeline the timings use: a decode step, and a pass of each length
    // the prompts are cut into, generating and scoring (a kernel compiles at its first dispatch,
    // which would otherwise land in the first timing of its length).
    await model.step([1], 0);
    const chunk = model.prefillChunk;
    for (const t of new Set(prefills.flatMap((n) => [Math.min(n, chunk), n % chunk]))) {
      if (t < 2) continue;
      await model.step(prompt(t), 0);
      await model.crossEntropy(prompt(t), new Array(t).fill(IGNORE_INDEX));
    }

    /** Times each kernel of one pass of `tokens` tokens and logs them, slowest first. */
    const logProfile = async (what: string, tokens: number) => {
      const rows = await model.profile(tokens);
      const total = rows.reduce((a, r) => a + r.seconds, 0);
      log(`profile of ${what}: ${(total * 1000).toFixed(2)} ms of kernel time`);
      for (const r of rows) {
        const gbs = r.weightBytes && tokens === 1
          ? `${(r.weightBytes / r.seconds / 1e9).toFixed(2)} GB/s`
          : "";
        log(
          `  ${r.name.padEnd(14)} ${(r.seconds * 1000).toFixed(3).padStart(9)} ms ${
            (100 * r.seconds / total).toFixed(1).padStart(5)
          }%  ×${r.launches}  ${gbs}`,
        );
      }
      return rows;
    };

    const prefill: Record<string, number> = {};
    const prefillEfficiency: Record<string, number> = {};
    const prefillProfiles: Record<string, unknown> = {};
    for (const n of prefills) {
      model.reset();
      const t0 = performance.now();
      await model.step(prompt(n), 0);
      const seconds = (performance.now() - t0) / 1000;
      prefill[n] = n / seconds;
      const flops = prefillFlops(model.config, n, model.prefillChunk);
      prefillEfficiency[n] = flops / seconds / fmaPeak;
      log(
        `prefill ${n} tokens: ${prefill[n]!.toFixed(1)} tokens/s, ${
          (flops / seconds / 1e9).toFixed(1)
        } GFLOP/s, efficiency ${prefillEfficiency[n]!.toFixed(2)}`,
      );
      if (profile) {
        model.reset();
        const chunk = Math.min(n, model.prefillChunk);
        prefillProfiles[n] = await logProfile(`one prefill pass of ${chunk} tokens`, chunk);
      }
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
    const sampled: Record<string, number> = {};
    const profiles: Record<string, unknown> = {};
    const efficiency: Record<string, number> = {};
    let perToken = { submits: 0, readbacks: 0 };
    /** Seconds per decode step at `ctx` cached tokens, drawing as `sampling` says. */
    const timeDecode = async (ctx: number, sampling: SamplingParams) => {
      model.setSampling(sampling);
      model.reset();
      model.assumeCached(ctx + steps); // warm at the last length too (a combine once keys split)
      await model.step([1]);
      model.reset();
      model.assumeCached(ctx);
      let id = await model.step([1]); // warm at this length
      const before = { ...model.counters };
      const t0 = performance.now();
      for (let done = 0; done < steps;) {
        const n = Math.min(DECODE_BATCH, steps - done);
        id = (await model.decode(id, n)).at(-1)!;
        done += n;
      }
      perToken = {
        submits: (model.counters.submits - before.submits) / steps,
        readbacks: (model.counters.readbacks - before.readbacks) / steps,
      };
      return (performance.now() - t0) / 1000 / steps;
    };
    for (const ctx of contexts) {
      sampled[ctx] = 1 / await timeDecode(ctx, META_SAMPLING);
      const seconds = await timeDecode(ctx, GREEDY);
      decode[ctx] = 1 / seconds;
      efficiency[ctx] = model.decodeBytes(ctx + steps / 2) / seconds / bandwidth.read;
      if (profile) {
        profiles[ctx] = await logProfile(`one decode step at context ${model.length}`, 1);
      }
      log(
        `decode at context ${ctx}: ${decode[ctx]!.toFixed(2)} tokens/s (${
          (seconds * 1000).toFixed(1)
        } ms/token), ` +
          `efficiency ${efficiency[ctx]!.toFixed(2)}; sampled ${sampled[ctx]!.toFixed(2)} tokens/s`,
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
        const n = Math.min(DECODE_BATCH, steps - done);
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
    model.setSampling(GREEDY);
    const launches = model.launchesPerStep(1, Math.max(...contexts));
    const result = {
      device: gpu.info.description,
      model: dir,
      weights: weights ?? "stored",
      copy_bandwidth_gb_s: bandwidth.copy / 1e9,
      read_bandwidth_gb_s: bandwidth.read / 1e9,
      fma_peak_flops: fmaPeak,
      weight_bytes: loaded.weightBytes,
      load_seconds: loaded.loadSeconds,
      load_gb_s: loaded.weightBytes / 1e9 / loaded.loadSeconds,
      prefill_tokens_per_s: prefill,
      /** The pass's FLOPs (prefillFlops) per second ÷ fma_peak_flops. */
      prefill_flop_efficiency: prefillEfficiency,
      perplexity_tokens_per_s: scoring,
      decode_tokens_per_s: decode,
      /** Drawing as Llama 3 Instruct does by default: T 0.6, top-p 0.9, top-k 50. */
      decode_sampled_tokens_per_s: sampled,
      decode_efficiency: efficiency,
      decode_bytes_per_token: Object.fromEntries(contexts.map((c) => [c, model.decodeBytes(c)])),
      ...(batches.length ? { decode_batch_tokens_per_s: batchRate } : {}),
      /** Kernel dispatches of one greedy decode step, from the plan (issue 28's measure). */
      launches_per_token: launches,
      submits_per_token: perToken.submits,
      readbacks_per_token: perToken.readbacks,
      peak_rss_bytes: peakRss,
      ...(profile ? { profile: profiles, prefill_profile: prefillProfiles } : {}),
    };
    loaded.close();
    return result;
  } finally {
    gpu.device.destroy();
  }
}

/**
 * FLOPs of a prefill of n tokens from position 0 in chunks of `chunk`, 2 per multiply-add: every
 * layer matrix on every token, lm_head on each chunk's last token (as prefill computes it), and
 * attention's q·k and p·v over the keys each token sees (position + 1).
 */
export function prefillFlops(c: LlamaConfig, n: number, chunk = n): number {
  const perLayer = expectedTensors(c)
    .filter((t) => t.layer === 0 && t.shape.length === 2) // a layer's matrices, not its norms
    .reduce((sum, t) => sum + t.shape[0]! * t.shape[1]!, 0);
  const q = c.numAttentionHeads * c.headDim;
  const attention = 2 * 2 * q * (n * (n + 1)) / 2;
  return c.numHiddenLayers * (2 * perLayer * n + attention) +
    Math.ceil(n / chunk) * 2 * c.hiddenSize * c.vocabSize;
}
