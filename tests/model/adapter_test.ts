/**
 * PEFT LoRA adapters merged at load give PEFT's own logits (goldens from
 * tools/goldens/lora_adapters.py: PeftModel in float64 on the saved adapter), and every adapter
 * this loader cannot apply exactly is refused in one line naming what.
 */
import { openCheckpoint } from "../../src/model/checkpoint.ts";
import { InputError } from "../../src/errors.ts";
import { Llama } from "../../src/model/llama.ts";
import { assert, assertEquals, assertMatch, assertRelClose } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";
import { testGpu } from "../_gpu.ts";
import { encodeSafetensors, f32Bytes } from "../_safetensors.ts";
import { tempDir } from "../_temp.ts";

const ADAPTERS = new URL("../fixtures/adapters/", import.meta.url).pathname;
const GOLDENS: {
  goldens: { adapter: string; model: string; ids: number[]; logits: number[][] }[];
} = JSON.parse(Deno.readTextFileSync(`${ADAPTERS}goldens.json`));

async function load(name: string, adapter?: string, weights?: "q8") {
  const { gpu } = await testGpu();
  const ckpt = openCheckpoint(fixture(name));
  try {
    return await Llama.load(ckpt, gpu, {
      ...(adapter ? { adapter } : {}),
      ...(weights ? { weights } : {}),
    });
  } finally {
    ckpt.close();
  }
}

Deno.test("--adapter: logits equal PEFT's (float64) to 1e-4 per position, for all seven targets and for q,v with rsLoRA", async () => {
  for (const adapter of new Set(GOLDENS.goldens.map((g) => g.adapter))) {
    const cases = GOLDENS.goldens.filter((g) => g.adapter === adapter);
    const model = await load(cases[0]!.model, `${ADAPTERS}${adapter}`);
    const base = await load(cases[0]!.model);
    const V = model.config.vocabSize;
    for (const g of cases) {
      model.reset();
      base.reset();
      const got = await model.logits(g.ids, 0);
      const plain = await base.logits(g.ids, 0);
      g.logits.forEach((want, p) => {
        const row = got.subarray(p * V, (p + 1) * V);
        assertRelClose(row, want, 1e-4, `${adapter}, ${g.ids.length} ids, position ${p}`);
        // The adapter matters: without it the logits are elsewhere.
        const without = plain.subarray(p * V, (p + 1) * V);
        const diff = Math.max(...want.map((w, i) => Math.abs(w - without[i]!)));
        assert(diff > 1e-2, `${adapter}: the adapter changes position ${p} by only ${diff}`);
      });
    }
    model.dispose();
    base.dispose();
  }
});

Deno.test("--adapter with --weights q8: merged before packing, so the adapter costs no more accuracy than q8 costs the base", async () => {
  const g = GOLDENS.goldens.find((g) => g.adapter === "tiny-bf16-tied-all" && g.ids.length > 5)!;
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let [num, den] = [0, 0];
    for (let i = 0; i < a.length; i++) [num, den] = [num + (a[i]! - b[i]!) ** 2, den + b[i]! ** 2];
    return Math.sqrt(num / den);
  };
  const packed = await load(g.model, `${ADAPTERS}${g.adapter}`, "q8");
  const withAdapter = rel(await packed.logits(g.ids, 0), g.logits.flat());
  packed.dispose();
  const [q8, stored] = [await load(g.model, undefined, "q8"), await load(g.model)];
  const baseError = rel(await q8.logits(g.ids, 0), await stored.logits(g.ids, 0));
  q8.dispose();
  stored.dispose();
  assert(
    withAdapter < 2 * baseError + 1e-4,
    `q8 with adapter ${withAdapter} vs q8 alone ${baseError}`,
  );
});

Deno.test("--adapter refuses, in one line naming the file and field, what it cannot merge exactly", async () => {
  const source = `${ADAPTERS}tiny-f16-rope-scaled-qv-rslora`;
  const config = JSON.parse(Deno.readTextFileSync(`${source}/adapter_config.json`));
  const tensors = Deno.readFileSync(`${source}/adapter_model.safetensors`);
  const folder = (patch: Record<string, unknown>, weights: Uint8Array = tensors) => {
    const dir = tempDir();
    Deno.writeTextFileSync(`${dir}/adapter_config.json`, JSON.stringify({ ...config, ...patch }));
    Deno.writeFileSync(`${dir}/adapter_model.safetensors`, weights);
    return dir;
  };
  const extra = encodeSafetensors({
    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": {
      dtype: "F32",
      shape: [2, 128],
      data: f32Bytes(new Float32Array(256)),
    },
    "base_model.model.lm_head.lora_A.weight": {
      dtype: "F32",
      shape: [2, 128],
      data: f32Bytes(new Float32Array(256)),
    },
  });
  const cases: [string, RegExp][] = [
    [tempDir(), /no adapter_config\.json \(expected a PEFT LoRA adapter folder\)/],
    [folder({ peft_type: "IA3" }), /peft_type is "IA3": expected "LORA"/],
    [folder({ use_dora: true }), /use_dora is true: expected false \(DoRA is not supported\)/],
    [folder({ bias: "all" }), /bias is "all": expected "none"/],
    [
      folder({ target_modules: ["q_proj", "lm_head"] }),
      /target_modules is .*expected a list of q_proj/,
    ],
    [
      folder({ target_modules: ["q_proj", "k_proj", "v_proj"] }),
      /no tensor base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight/,
    ],
    [folder({ r: 3 }), /has shape \[2,128\]: expected \[3,128\]/],
    [folder({}, extra), /no tensor|is not a LoRA A or B/],
  ];
  for (const [dir, message] of cases) {
    const ckpt = openCheckpoint(fixture("tiny-f16-rope-scaled"));
    const { gpu } = await testGpu();
    try {
      await Llama.load(ckpt, gpu, { adapter: dir });
      throw new Error(`${dir}: loaded`);
    } catch (e) {
      assert(e instanceof InputError, `${e}`);
      assert(message.test(e.message) && !e.message.includes("\n"), `${e.message} !~ ${message}`);
    } finally {
      ckpt.close();
    }
  }
});

Deno.test("wgllama logits --adapter writes PEFT's logits; run --adapter generates; a bad folder is one line, exit 1", async () => {
  const g = GOLDENS.goldens.find((g) => g.adapter === "tiny-bf16-tied-all" && g.ids.length > 5)!;
  const out = `${tempDir()}/logits.bin`;
  const adapter = `${ADAPTERS}${g.adapter}`;
  const r = await wgllama([
    "logits",
    fixture(g.model),
    "--adapter",
    adapter,
    "--ids",
    g.ids.join(","),
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.stderr);
  const got = new Float32Array(Deno.readFileSync(out).buffer);
  assertRelClose(got, g.logits.flat(), 1e-4, "logits --adapter");
  const run = await wgllama([
    "run",
    fixture(g.model),
    "--adapter",
    adapter,
    "--prompt-ids",
    "1,2,3",
    "--max-tokens",
    "3",
    "--json",
  ]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(JSON.parse(run.stdout).tokens.length, 3);
  const bad = await wgllama([
    "run",
    fixture(g.model),
    "--adapter",
    tempDir(),
    "--prompt-ids",
    "1,2",
  ]);
  assertEquals(bad.code, 1);
  assertMatch(
    bad.stderr.trim(),
    /^wgllama: error: Cannot load the adapter .*: no adapter_config\.json/,
  );
});

Deno.test("wgllama merge writes a Hugging Face folder whose logits are PEFT's (f32), or PEFT's rounded (the base's bf16); an existing model is not replaced without --overwrite", async () => {
  const g = GOLDENS.goldens.find((g) => g.adapter === "tiny-bf16-tied-all" && g.ids.length > 5)!;
  const adapter = `${ADAPTERS}${g.adapter}`;
  const out = `${tempDir()}/merged`;
  const r = await wgllama([
    "merge",
    fixture(g.model),
    "--adapter",
    adapter,
    "--out",
    out,
    "--save-dtype",
    "f32",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, /merged 21 matrices/); // 3 layers × 7 projections
  const { gpu } = await testGpu();
  const logitsOf = async (dir: string) => {
    const ckpt = openCheckpoint(dir);
    const model = await Llama.load(ckpt, gpu);
    ckpt.close();
    const logits = await model.logits(g.ids, 0);
    model.dispose();
    return logits;
  };
  assertRelClose(await logitsOf(out), g.logits.flat(), 1e-4, "merged f32");
  const again = await wgllama(["merge", fixture(g.model), "--adapter", adapter, "--out", out]);
  assertEquals(again.code, 1);
  assertMatch(again.stderr, /already holds a model .*--overwrite/);
  const bf16 = await wgllama([
    "merge",
    fixture(g.model),
    "--adapter",
    adapter,
    "--out",
    out,
    "--overwrite",
  ]);
  assertEquals(bf16.code, 0, bf16.stderr);
  assertEquals(JSON.parse(Deno.readTextFileSync(`${out}/config.json`)).torch_dtype, "bfloat16");
  assertRelClose(await logitsOf(out), g.logits.flat(), 2e-2, "merged bf16");
});
