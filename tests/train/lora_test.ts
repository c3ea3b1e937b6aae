/**
 * LoRA training against PEFT + PyTorch in float64 (tools/goldens/lora_training.py): from a given
 * adapter (B ≠ 0), six AdamW steps with clipping over the adapters only — each step's loss and
 * gradient norm, and every adapter tensor's change (the base has no gradient: it is frozen).
 */
import { packBatch, type PackedBatch, type Sequence } from "../../src/train/batch.ts";
import { loadTrainable } from "../../src/train/load.ts";
import type { LoraTarget } from "../../src/train/lora.ts";
import { readTensors } from "../_safetensors.ts";
import { Uploader, uploadMatrix } from "../../src/gpu/buffers.ts";
import { parseLlamaConfig } from "../../src/model/config.ts";
import { TrainableLlama } from "../../src/train/trainable.ts";
import { nanBuffer, runLaunches } from "../_gpu.ts";
import { assert, assertEquals, assertRelClose } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

for (const adapter of ["tiny-bf16-tied-all", "tiny-f16-rope-scaled-qv-rslora"]) {
  Deno.test(`LoRA training golden ${adapter}: six AdamW steps on the adapters equal PEFT's`, async () => {
    const dir = `${FIXTURES}adapters/${adapter}`;
    const golden = JSON.parse(Deno.readTextFileSync(`${dir}/training/training.json`));
    const config = JSON.parse(Deno.readTextFileSync(`${dir}/adapter_config.json`));
    const fixture = `${FIXTURES}${golden.model}`;
    const init = readTensors(`${dir}/adapter_model.safetensors`);
    const { gpu } = await testGpu();
    const { model } = loadTrainable(gpu, fixture, {
      lora: {
        spec: {
          rank: config.r,
          alpha: config.lora_alpha,
          rslora: config.use_rslora,
          targets: config.target_modules as LoraTarget[],
        },
        init,
      },
    });
    try {
      const { batches, settings } = goldenSteps(fixture, golden, model.config.vocabSize);
      const h = golden.hyperparameters;
      for (let s = 0; s < h.steps; s++) {
        const r = await model.trainStep([batches[s % 2]!], settings);
        assertRelClose([r.loss], [golden.steps[s].loss], 1e-4, `step ${s} loss`);
        assertRelClose(
          [r.gradNorm],
          [golden.steps[s].grad_norm_before_clip],
          1e-3,
          `step ${s} norm`,
        );
      }
      const after = await model.tensors();
      const want = readTensors(`${dir}/training/after.safetensors`);
      assertEquals([...after.keys()].sort(), [...want.keys()].sort());
      for (const [name, w] of want) {
        const w0 = init.get(name)!;
        assertRelClose(
          after.get(name)!.map((v, i) => v - w0[i]!),
          w.map((v, i) => v - w0[i]!),
          1e-3,
          `Δ ${name}`,
        );
      }
    } finally {
      model.destroy();
    }
  });
}

for (const [base, checkpointLayers] of [["q8", false], ["q4", true]] as const) {
  const how = checkpointLayers ? " (layers recomputed)" : "";
  Deno.test(`LoRA on a ${base} base (QLoRA)${how}: six steps equal LoRA on the same base dequantized to f32`, async () => {
    const adapter = "tiny-bf16-tied-all";
    const dir = `${FIXTURES}adapters/${adapter}`;
    const golden = JSON.parse(Deno.readTextFileSync(`${dir}/training/training.json`));
    const fixture = `${FIXTURES}${golden.model}`;
    const json = JSON.parse(Deno.readTextFileSync(`${fixture}/config.json`));
    const config = parseLlamaConfig(json);
    const init = readTensors(`${dir}/adapter_model.safetensors`);
    const adapterConfig = JSON.parse(Deno.readTextFileSync(`${dir}/adapter_config.json`));
    const spec = {
      rank: adapterConfig.r,
      alpha: adapterConfig.lora_alpha,
      rslora: adapterConfig.use_rslora,
      targets: adapterConfig.target_modules as LoraTarget[],
    };
    const ctx = await testGpu();
    const tensors = readTensors(`${fixture}/model.safetensors`);
    // The reference's base: each layer matrix packed as the QLoRA run packs it, then read back.
    const dequantized = new Map(tensors);
    for (const [name, t] of tensors) {
      // The layers in the base's format; the vocabulary matrices in q8 (as inference keeps them).
      const vocabulary = name === "model.embed_tokens.weight" || name === "lm_head.weight";
      const layer = /^model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$/.test(name);
      if (!vocabulary && !layer) continue;
      const format = vocabulary ? "q8" : base;
      const cols = vocabulary ? json.hidden_size : inputsOf(name, json);
      const rows = t.length / cols;
      const m = await uploadMatrix(
        new Uploader(ctx.gpu.device),
        new Uint8Array(Float32Array.from(t).buffer),
        {
          type: "f32",
          cols,
          maxBindingBytes: 1 << 27,
          label: name,
          pack: { format, part: ctx.ops.packer(format, "f32") },
        },
      );
      const out = nanBuffer(ctx.gpu, rows * cols);
      dequantized.set(
        name,
        await runLaunches(
          ctx,
          { start: 0, tokens: 1 },
          [[ctx.ops.dequantize(m, out), 1]],
          out,
          rows * cols,
        ),
      );
    }
    const name = "model.layers.0.mlp.down_proj.weight";
    assert(dequantized.get(name)!.some((v, i) => v !== tensors.get(name)![i]), "packing rounds");
    const reference = new TrainableLlama(ctx.gpu, config, dequantized, { lora: { spec, init } });
    const packed = new TrainableLlama(ctx.gpu, config, tensors, {
      // Matrices read back 100 rows of 96 at a time: several slices each.
      lora: { spec, init, base, sliceBytes: 100 * json.hidden_size * 4 },
      checkpointLayers,
    });
    try {
      const { batches, settings } = goldenSteps(fixture, golden, config.vocabSize);
      const h = golden.hyperparameters;
      for (let s = 0; s < h.steps; s++) {
        const [a, b] = [
          await reference.trainStep([batches[s % 2]!], settings),
          await packed.trainStep([batches[s % 2]!], settings),
        ];
        assertRelClose([b.loss], [a.loss], 1e-5, `step ${s} loss`);
        assertRelClose([b.gradNorm], [a.gradNorm], 1e-4, `step ${s} norm`);
      }
      const [want, got] = [await reference.tensors(), await packed.tensors()];
      // The same math, summed in another order where lm_head is read back in slices (dh adds
      // slice by slice): after six Adam steps that leaves ~1e-5.
      for (const [name, w] of want) assertRelClose(got.get(name)!, w, 1e-4, name);
    } finally {
      reference.destroy();
      packed.destroy();
    }
  });
}

/** A layer matrix's input width (the columns of its HF tensor [out, in]), from config.json. */
function inputsOf(name: string, c: Record<string, number>): number {
  if (name.includes("down_proj")) return c.intermediate_size!;
  if (name.includes("o_proj")) {
    return c.num_attention_heads! * (c.head_dim ?? c.hidden_size! / c.num_attention_heads!);
  }
  return c.hidden_size!;
}

/** The fixture's golden batches, packed, and the golden's optimizer settings. */
function goldenSteps(
  fixture: string,
  golden: { hyperparameters: Record<string, number & number[]> },
  vocab: number,
) {
  const raw = JSON.parse(Deno.readTextFileSync(`${fixture}/training/training.json`)).batches;
  const batches = raw.map((b: Record<string, number[][]>, i: number) =>
    packBatch(
      b.input_ids!.map((ids, r): Sequence => ({
        inputIds: ids,
        attentionMask: b.attention_mask![r],
        labels: b.labels![r],
      })),
      vocab,
      `batch ${i}`,
    )
  );
  const h = golden.hyperparameters;
  const settings = {
    lr: h.lr as number,
    beta1: h.betas![0]!,
    beta2: h.betas![1]!,
    eps: h.eps as number,
    weightDecay: h.weight_decay as number,
    maxGradNorm: h.max_grad_norm as number,
  };
  return { batches: batches as PackedBatch[], settings };
}

/** The dropout tests' adapter (all seven targets on tiny-bf16-tied) and its golden run, with a dropout rate. */
function dropoutCase(dropout: number) {
  const dir = `${FIXTURES}adapters/tiny-bf16-tied-all`;
  const golden = JSON.parse(Deno.readTextFileSync(`${dir}/training/training.json`));
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/adapter_config.json`));
  return {
    golden,
    fixture: `${FIXTURES}${golden.model}`,
    init: readTensors(`${dir}/adapter_model.safetensors`),
    spec: {
      rank: config.r,
      alpha: config.lora_alpha,
      rslora: false,
      targets: config.target_modules as LoraTarget[],
      dropout,
    },
  };
}

Deno.test("LoRA dropout: training draws masks from the seed and the step (the same run twice: the same adapters), evaluation draws none", async () => {
  const { golden, fixture, init, spec } = dropoutCase(0.3);
  const { gpu } = await testGpu();
  const runs = [];
  for (const dropout of [0.3, 0.3, 0]) {
    const { model } = loadTrainable(gpu, fixture, {
      lora: { spec: { ...spec, dropout }, init, seed: 5 },
    });
    const { batches, settings } = goldenSteps(fixture, golden, model.config.vocabSize);
    const evaluation = await model.lossSum(batches[0]!);
    const losses = [];
    for (let s = 0; s < 3; s++) {
      losses.push((await model.trainStep([batches[s % 2]!], settings)).loss);
    }
    runs.push({ evaluation, losses, after: await model.tensors() });
    model.destroy();
  }
  const [a, b, none] = runs;
  assertEquals(a!.evaluation, none!.evaluation, "evaluation draws no dropout");
  assertEquals(a!.losses, b!.losses, "the same seed, the same masks");
  for (const [name, t] of a!.after) assertEquals([...b!.after.get(name)!], [...t], name);
  assert(a!.losses[0] !== none!.losses[0], "dropout changes the training loss");
});

Deno.test("LoRA dropout's gradient is the gradient of the loss it trains on (central differences, the masks replayed)", async () => {
  const { golden, fixture, init, spec } = dropoutCase(0.4);
  const { gpu } = await testGpu();
  const lossWith = async (name: string, i: number, delta: number) => {
    const tensors = new Map(init);
    const t = Float32Array.from(init.get(name)!);
    t[i]! += delta;
    tensors.set(name, t);
    const { model } = loadTrainable(gpu, fixture, { lora: { spec, init: tensors, seed: 9 } });
    const { batches } = goldenSteps(fixture, golden, model.config.vocabSize);
    const r = await model.accumulate([batches[0]!]); // step 0, micro-batch 0: one set of masks
    const grads = await model.tensors("gradients");
    model.destroy();
    return { loss: r.loss, grad: grads.get(name)![i]! };
  };
  for (
    const [name, i] of [
      ["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", 17],
      ["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", 5],
    ] as const
  ) {
    const h = 1e-2;
    const [{ grad }, up, down] = [
      await lossWith(name, i, 0),
      await lossWith(name, i, h),
      await lossWith(name, i, -h),
    ];
    const numeric = (up.loss - down.loss) / (2 * h);
    assert(
      Math.abs(numeric - grad) <= 0.05 * Math.abs(grad) + 1e-3,
      `${name}[${i}]: analytic ${grad}, numeric ${numeric}`,
    );
  }
});
