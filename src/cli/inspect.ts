/** `wgllama inspect MODEL [--json] [--ctx N]`: hyperparameters, parameters, shapes, memory. */
import { openCheckpoint } from "../model/checkpoint.ts";
import { inspectCheckpoint, type InspectReport } from "../model/inspect.ts";
import { command, intFlag, MODEL_HELP, modelArg } from "./args.ts";
import { err, formatBytes, formatCount, out } from "./output.ts";
import { weightsFlag } from "./session.ts";

const USAGE = `Usage: wgllama inspect [MODEL] [--json] [--ctx N]

Shows a model's hyperparameters, parameter counts by component, the tensor shapes of one
forward pass and the memory a run needs. Works from config.json alone; when weights are
present they are validated against the config (only their headers are read).

  --json     print one JSON object instead of tables
  --weights F  bf16 | q8 | q5 | q4: the GPU memory after packing at load (see wgllama run --help)
  --ctx N    context length for the KV-cache estimate
             (default: max_position_embeddings, capped at 8192)

${MODEL_HELP}
`;

/** The inspect command. */
export const inspect = command({
  name: "inspect",
  summary: "show hyperparameters, parameter counts, shapes and memory of a model",
  usage: USAGE,
  flags: {
    json: { type: "boolean" },
    ctx: { type: "string" },
    weights: { type: "string" },
  },
  run({ values, positionals }) {
    const spec = modelArg("inspect", positionals);
    const ckpt = openCheckpoint(spec, { weightsOptional: true });
    try {
      const ctx = values.ctx !== undefined
        ? intFlag("ctx", values.ctx)
        : Math.min(ckpt.config.maxPositionEmbeddings, 8192);
      const weights = weightsFlag(values.weights);
      const report = inspectCheckpoint(ckpt, ctx, { weights });
      if (report.extraTensors.length) {
        err(`wgllama: warning: unused tensors in ${ckpt.dir}: ${report.extraTensors.join(", ")}`);
      }
      out(values.json ? JSON.stringify(toJson(report), null, 2) + "\n" : toText(report));
      return Promise.resolve(0);
    } finally {
      ckpt.close();
    }
  },
});

function toJson(r: InspectReport) {
  return {
    model: r.dir,
    config: r.config,
    parameters: {
      total: r.parameters.total,
      by_component: r.parameters.byComponent,
      per_layer: r.parameters.perLayer,
    },
    shapes: Object.fromEntries(r.shapes),
    memory: {
      weights_bytes: r.memory.weights,
      weights_by_dtype: r.memory.weightsByDtype,
      weights_source: r.memory.weightsSource,
      context_length: r.memory.contextLength,
      kv_cache_bytes: r.memory.kvCache,
      total_bytes: r.memory.total,
    },
    extra_tensors: r.extraTensors,
  };
}

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join("\n") + "\n";
}

function toText(r: InspectReport): string {
  const c = r.config;
  const hyper: [string, string][] = [
    ["hidden_size (D)", `${c.hiddenSize}`],
    ["intermediate_size (F)", `${c.intermediateSize}`],
    ["num_hidden_layers (L)", `${c.numHiddenLayers}`],
    ["num_attention_heads (H)", `${c.numAttentionHeads}`],
    ["num_key_value_heads (Hkv)", `${c.numKeyValueHeads} (group of ${c.groupSize})`],
    ["head_dim (Hd)", `${c.headDim}`],
    ["vocab_size (V)", `${c.vocabSize}`],
    ["max_position_embeddings", `${c.maxPositionEmbeddings}`],
    ["rms_norm_eps", `${c.rmsNormEps}`],
    ["rope_theta", `${c.ropeTheta}`],
    ["rope_scaling", c.ropeScaling ? JSON.stringify(c.ropeScaling) : "none"],
    ["tie_word_embeddings", `${c.tieWordEmbeddings}`],
    ["torch_dtype", `${c.torchDtype ?? "unspecified"}`],
    ["bos / eos", `${c.bosTokenId ?? "-"} / ${c.eosTokenIds.join(", ") || "-"}`],
  ];
  const p = r.parameters;
  const count = (
    v: number | "tied" | undefined,
  ) => (typeof v === "number" ? formatCount(v) : v ?? "0");
  const params: [string, string][] = [
    ...Object.entries(p.byComponent).map(([k, v]) => [k, count(v)] as [string, string]),
    ["per layer", formatCount(p.perLayer.total)],
    ["total", formatCount(p.total)],
  ];
  const m = r.memory;
  const memory: [string, string][] = [
    ...Object.entries(m.weightsByDtype).map(([d, b]) =>
      [`weights ${d}`, formatBytes(b)] as [string, string]
    ),
    [`weights (from ${m.weightsSource})`, formatBytes(m.weights)],
    [`KV cache (${m.contextLength} tokens, f32)`, formatBytes(m.kvCache)],
    ["total", formatBytes(m.total)],
  ];
  return `Model ${r.dir}\n\nHyperparameters\n${table(hyper)}\nParameters\n${table(params)}\n` +
    `Shapes of one forward pass\n${table(r.shapes)}\nMemory\n${table(memory)}`;
}
