/**
 * `wgllama train --lora` as a user runs it: a PEFT adapter folder out (no model weights), used by
 * `--adapter`, resumed exactly, started from an existing adapter, and its flags checked.
 */
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { readTensors } from "../_safetensors.ts";
import { tempDir } from "../_temp.ts";

const TEXTS = new URL("../fixtures/texts/", import.meta.url).pathname;
const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
/** A constant schedule: a run cut short and resumed follows the same learning rates. */
const TRAIN = [
  "--data",
  `${TEXTS}weather-train.txt`,
  "--seq-len",
  "64",
  "--batch-size",
  "4",
  "--lr",
  "3e-3",
  "--schedule",
  "constant",
];

function ok(r: { code: number; stderr: string }, what: string) {
  assertEquals(r.code, 0, `${what}: ${r.stderr}`);
}

Deno.test("train --lora: a PEFT adapter folder that lowers held-out perplexity through --adapter; resumed runs are exact", async () => {
  const dir = tempDir();
  const lora = ["--lora", "8", "--lora-alpha", "16", "--lora-targets", "all-linear"];
  const straight = await wgllama([
    "train",
    "stories-260k",
    ...TRAIN,
    ...lora,
    "--out",
    `${dir}/a`,
    "--steps",
    "12",
  ]);
  ok(straight, "train");
  const files = [...Deno.readDirSync(`${dir}/a`)].map((e) => e.name).sort();
  assertEquals(files, [
    "adapter_config.json",
    "adapter_model.safetensors",
    "optimizer.safetensors",
    "trainer_state.json",
  ]);
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/a/adapter_config.json`));
  assertEquals([config.peft_type, config.task_type, config.r, config.lora_alpha, config.bias], [
    "LORA",
    "CAUSAL_LM",
    8,
    16,
    "none",
  ]);
  assertEquals(config.target_modules.length, 7);
  const tensors = readTensors(`${dir}/a/adapter_model.safetensors`);
  assertEquals(tensors.size, 5 * 7 * 2); // five layers, seven projections, A and B
  assert(tensors.has("base_model.model.model.layers.4.mlp.down_proj.lora_B.weight"));
  // The adapter helps on reports it never saw.
  const ppl = async (extra: string[]) =>
    JSON.parse(
      (await wgllama([
        "perplexity",
        "stories-260k",
        "--text",
        `${TEXTS}weather-heldout.txt`,
        "--json",
        ...extra,
      ])).stdout,
    ).ppl;
  const [base, adapted] = [await ppl([]), await ppl(["--adapter", `${dir}/a`])];
  assert(adapted < base / 3, `held-out perplexity ${base} → ${adapted}`);
  // 6 steps, then --resume to 12: the same adapter as 12 straight.
  ok(
    await wgllama([
      "train",
      "stories-260k",
      ...TRAIN,
      ...lora,
      "--out",
      `${dir}/b`,
      "--steps",
      "6",
    ]),
    "first half",
  );
  ok(await wgllama(["train", "--resume", `${dir}/b`, "--steps", "12"]), "resume");
  const resumed = readTensors(`${dir}/b/adapter_model.safetensors`);
  for (const [name, t] of tensors) {
    assert(resumed.get(name)!.every((v, i) => v === t[i]), `${name} differs after resuming`);
  }
  // Memory: the base's weights only (no gradients or moments) plus the small adapters.
  const dry = async (extra: string[]) =>
    JSON.parse(
      (await wgllama([
        "train",
        "stories-260k",
        ...TRAIN,
        "--out",
        `${dir}/c`,
        "--dry-run",
        ...extra,
      ])).stdout,
    ).state_bytes;
  const [full, small] = [await dry([]), await dry(lora)];
  assert(small < full / 2, `state ${full} → ${small} bytes`);
});

Deno.test("train --adapter INIT_DIR continues a PEFT adapter with its own r, alpha, rsLoRA and targets; bad LoRA flags are one line", async () => {
  const dir = tempDir();
  const model = `${FIXTURES}tiny-f16-rope-scaled`;
  const batches = JSON.parse(Deno.readTextFileSync(`${model}/training/training.json`)).batches;
  const lines = batches.flatMap((b: { input_ids: number[][] }) =>
    b.input_ids.map((ids) => JSON.stringify({ input_ids: ids }))
  );
  Deno.writeTextFileSync(`${dir}/data.jsonl`, lines.join("\n") + "\n");
  const start = `${FIXTURES}adapters/tiny-f16-rope-scaled-qv-rslora`;
  const r = await wgllama([
    "train",
    model,
    "--data",
    `${dir}/data.jsonl`,
    "--adapter",
    start,
    "--out",
    `${dir}/out`,
    "--steps",
    "3",
    "--lr",
    "1e-3",
  ]);
  ok(r, "train --adapter");
  // QLoRA: the same start on a q4 base trains and records its base for --resume.
  const qlora = await wgllama([
    "train",
    model,
    "--data",
    `${dir}/data.jsonl`,
    "--adapter",
    start,
    "--weights",
    "q4",
    "--out",
    `${dir}/q4`,
    "--steps",
    "2",
  ]);
  ok(qlora, "train --weights q4");
  assertEquals(JSON.parse(Deno.readTextFileSync(`${dir}/q4/trainer_state.json`)).base, "q4");
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/out/adapter_config.json`));
  assertEquals(
    [config.r, config.lora_alpha, config.use_rslora, [...config.target_modules].sort()],
    [2, 16, true, ["q_proj", "v_proj"]],
  );
  const before = readTensors(`${start}/adapter_model.safetensors`);
  const after = readTensors(`${dir}/out/adapter_model.safetensors`);
  assertEquals([...after.keys()].sort(), [...before.keys()].sort());
  const name = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
  assert(after.get(name)!.some((v, i) => v !== before.get(name)![i]), "the adapter trained");
  const cases: [string[], RegExp][] = [
    [
      ["--lora", "4", "--lora-dropout", "1"],
      /--lora-dropout is "1": expected a number from 0 to 0.99/,
    ],
    [
      ["--adapter", start, "--lora", "4"],
      /--adapter gives r, lora_alpha, lora_dropout and target_modules/,
    ],
    [
      ["--lora", "4", "--lora-targets", "q_proj,lm_head"],
      /--lora-targets is "q_proj,lm_head": expected a comma-separated list/,
    ],
    [["--lora-alpha", "4"], /--lora-alpha, --lora-dropout and --lora-targets need --lora R/],
    [["--weights", "q4"], /--weights packs a frozen base: it needs --lora R or --adapter DIR/],
  ];
  for (const [flags, message] of cases) {
    const bad = await wgllama([
      "train",
      model,
      "--data",
      `${dir}/data.jsonl`,
      "--out",
      `${dir}/x`,
      ...flags,
    ]);
    assert(bad.code !== 0, `${flags}: exit ${bad.code}`);
    assertMatch(bad.stderr, message);
  }
});

Deno.test("train --chat --lora on a chat model trains its adapter, which chat then uses through --adapter", async () => {
  const dir = tempDir();
  const model = `${FIXTURES}tiny-llama3-vocab`;
  const r = await wgllama([
    "train",
    model,
    "--data",
    `${TEXTS}chat.jsonl`,
    "--chat",
    "--lora",
    "4",
    "--lora-targets",
    "all-linear",
    "--out",
    `${dir}/a`,
    "--steps",
    "3",
    "--batch-size",
    "2",
    "--lr",
    "1e-2",
    "--log",
    `${dir}/log.jsonl`,
  ]);
  ok(r, "train --chat --lora");
  const log = Deno.readTextFileSync(`${dir}/log.jsonl`).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assertEquals(log.length, 3);
  assert(log.every((l) => Number.isFinite(l.loss)), JSON.stringify(log));
  const chat = await wgllama(["chat", model, "--adapter", `${dir}/a`, "--max-tokens", "4"], {
    stdin: "Is it windy in Marlow?\n",
  });
  ok(chat, "chat --adapter");
});
