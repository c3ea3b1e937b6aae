/** `wgllama train` and `wgllama init` as a user drives them: spawned processes, files, exit codes. */
import { readTensors } from "../_safetensors.ts";
import { assert, assertEquals, assertMatch, assertRelClose } from "../_assert.ts";
import { type CliResult, wgllama } from "../_cli.ts";
import { tempDir } from "../_temp.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const TEXTS = `${FIXTURES}texts/`;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function logLines(path: string): Record<string, number>[] {
  return Deno.readTextFileSync(path).trim().split("\n").map((l) => JSON.parse(l));
}

/** The golden batches of a fixture as pre-tokenized JSONL (batch 0's rows, then batch 1's). */
interface Golden {
  batches: Record<string, number[][]>[];
  steps: { loss: number; grad_norm_before_clip: number }[];
}

function goldenJsonl(model: string, dir: string): { path: string; golden: Golden } {
  const golden: Golden = JSON.parse(
    Deno.readTextFileSync(`${FIXTURES}${model}/training/training.json`),
  );
  const lines = golden.batches.flatMap((b) =>
    b.input_ids!.map((ids, i) =>
      JSON.stringify({ input_ids: ids, attention_mask: b.attention_mask![i], labels: b.labels![i] })
    )
  );
  const path = `${dir}/${model}.jsonl`;
  Deno.writeTextFileSync(path, lines.join("\n") + "\n");
  return { path, golden };
}

/** The command-line contract with the golden run's hyperparameters. */
function contract(model: string, data: string, out: string, log: string, steps: number): string[] {
  return [
    "train",
    `${FIXTURES}${model}`,
    ...["--data", data, "--out", out, "--batch-size", "3", "--steps", String(steps)],
    ...["--lr", "0.003", "--betas", "0.9,0.95", "--eps", "1e-8", "--weight-decay", "0.1"],
    ...["--max-grad-norm", "1", "--schedule", "constant", "--no-shuffle", "--save-dtype", "f32"],
    ...["--log", log],
  ];
}

function ok(r: CliResult, what: string): void {
  assertEquals(r.code, 0, `${what}: ${r.stderr}`);
}

for (const model of ["tiny-f32", "tiny-bf16-tied", "tiny-f16-rope-scaled"]) {
  Deno.test(`train ${model}: the contract's log and saved weights match the six-step golden run, and the folder generates`, async () => {
    const dir = tempDir({ prefix: "wgllama-train-" });
    try {
      const { path, golden } = goldenJsonl(model, dir);
      const r = await wgllama(contract(model, path, `${dir}/out`, `${dir}/log.jsonl`, 6));
      ok(r, "train");
      assertMatch(r.stdout, /^trained 6 steps \(to step 6\), last loss [\d.]+.*saved /);
      const log = logLines(`${dir}/log.jsonl`);
      assertEquals(log.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
      golden.steps.forEach((s, i) => {
        assertRelClose([log[i]!.loss!], [s.loss], 1e-4, `step ${i + 1} loss`);
        assertRelClose([log[i]!.grad_norm!], [s.grad_norm_before_clip], 1e-3, `step ${i + 1} norm`);
      });
      const start = readTensors(`${FIXTURES}${model}/model.safetensors`);
      const saved = readTensors(`${dir}/out/model.safetensors`);
      // transformers' loader accepts headers with save_pretrained's metadata.
      const bytes = Deno.readFileSync(`${dir}/out/model.safetensors`);
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
      assertEquals(header.__metadata__, { format: "pt" });
      const want = readTensors(`${FIXTURES}${model}/training/after.safetensors`);
      assertEquals([...saved.keys()].sort(), [...want.keys()].sort());
      for (const [name, w] of want) {
        const w0 = start.get(name)!;
        const delta = saved.get(name)!.map((v, i) => v - w0[i]!);
        assertRelClose(delta, w.map((v, i) => v - w0[i]!), 1e-3, `Δ ${name}`);
      }
      const run = await wgllama([
        "run",
        `${dir}/out`,
        "--prompt-ids",
        "1,2,3",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
      ]);
      ok(run, "run the trained folder");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("train --resume: three steps, then three more from the checkpoint, equal six in one run", async () => {
  const dir = tempDir({ prefix: "wgllama-train-" });
  try {
    const { path } = goldenJsonl("tiny-f32", dir);
    ok(
      await wgllama(contract("tiny-f32", path, `${dir}/whole`, `${dir}/whole.log`, 6)),
      "six steps",
    );
    ok(
      await wgllama(contract("tiny-f32", path, `${dir}/half`, `${dir}/half.log`, 3)),
      "three steps",
    );
    const resumed = await wgllama([
      "train",
      "--resume",
      `${dir}/half`,
      "--steps",
      "6",
      "--log",
      `${dir}/half.log`,
    ]);
    ok(resumed, "resume");
    assertEquals(
      logLines(`${dir}/half.log`),
      logLines(`${dir}/whole.log`).map((l, i) => ({
        ...l,
        tokens_per_second: logLines(`${dir}/half.log`)[i]!.tokens_per_second,
      })),
    );
    const a = readTensors(`${dir}/whole/model.safetensors`);
    const b = readTensors(`${dir}/half/model.safetensors`);
    for (const [name, w] of a) assertEquals(Array.from(b.get(name)!), Array.from(w), name);
    const changed = await wgllama(["train", "--resume", `${dir}/half`, "--lr", "1"]);
    assertEquals(changed.code, 2);
    assertMatch(changed.stderr, /--resume keeps the run's settings: drop --lr/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

for (const [signal, exit] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`train: ${signal} saves a checkpoint at the step reached, exits ${exit}, and --resume goes on from it`, async () => {
    const dir = tempDir({ prefix: "wgllama-train-" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "train",
          "stories-260k",
          ...["--data", `${TEXTS}weather-train.txt`, "--out", `${dir}/out`, "--steps", "100000"],
          ...["--seq-len", "64", "--batch-size", "2", "--log", `${dir}/log.jsonl`],
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Wait for a few logged steps, then interrupt.
      for (let i = 0; i < 600; i++) {
        await new Promise((r) => setTimeout(r, 100));
        try {
          if (logLines(`${dir}/log.jsonl`).length >= 3) break;
        } catch { /* not written yet */ }
      }
      child.kill(signal);
      const { code, stderr } = await child.output();
      assertEquals(code, exit, new TextDecoder().decode(stderr));
      const state = JSON.parse(Deno.readTextFileSync(`${dir}/out/trainer_state.json`));
      const steps = logLines(`${dir}/log.jsonl`).length;
      assertEquals(state.position.step, steps);
      assert(steps >= 3 && steps < 100000, `${steps} steps`);
      const more = await wgllama(["train", "--resume", `${dir}/out`, "--steps", String(steps + 2)]);
      ok(more, "resume");
      assertMatch(more.stdout, new RegExp(`trained 2 steps \\(to step ${steps + 2}\\)`));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("finetuning stories-260k on weather reports lowers their held-out perplexity and it still tells stories", async () => {
  const dir = tempDir({ prefix: "wgllama-train-" });
  const heldOut = `${TEXTS}weather-heldout.txt`;
  const ppl = async (model: string) => {
    const r = await wgllama(["perplexity", model, "--text", heldOut, "--json"]);
    ok(r, `perplexity ${model}`);
    return JSON.parse(r.stdout).ppl as number;
  };
  try {
    const before = await ppl("stories-260k");
    const args = ["--seq-len", "128", "--batch-size", "8", "--epochs", "4", "--lr", "1e-3"];
    const r = await wgllama([
      "train",
      "stories-260k",
      "--data",
      `${TEXTS}weather-train.txt`,
      "--out",
      `${dir}/ft`,
      ...args,
    ]);
    ok(r, "train");
    const after = await ppl(`${dir}/ft`);
    assert(after < 0.25 * before, `held-out perplexity ${before} → ${after}`);
    const story = await wgllama(["run", `${dir}/ft`, "--max-tokens", "40", "--temperature", "0"], {
      stdin: "Once upon a time",
    });
    ok(story, "run");
    assertMatch(story.stdout, /\b(girl|boy|named|day|play|little|friend)\b/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("init, then a few hundred steps from scratch: the loss falls and the folder generates", async () => {
  const dir = tempDir({ prefix: "wgllama-train-" });
  try {
    const config = {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      vocab_size: 512,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 128,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      bos_token_id: 1,
      eos_token_id: 2,
      tie_word_embeddings: true,
    };
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
    const init = await wgllama([
      "init",
      "--config",
      `${dir}/config.json`,
      "--out",
      `${dir}/new`,
      "--tokenizer",
      "stories-260k",
      "--seed",
      "3",
    ]);
    ok(init, "init");
    assertMatch(init.stdout, /^initialised \d+ parameters \(f32, seed 3\)/);
    const embed = readTensors(`${dir}/new/model.safetensors`).get("model.embed_tokens.weight")!;
    const std = Math.sqrt(embed.reduce((a, v) => a + v * v, 0) / embed.length);
    assert(Math.abs(std - 0.02) < 0.002, `embedding std ${std}, initializer_range 0.02`);
    const r = await wgllama([
      "train",
      `${dir}/new`,
      ...["--data", `${TEXTS}weather-train.txt`, "--out", `${dir}/trained`, "--steps", "300"],
      ...[
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--lr",
        "3e-3",
        "--warmup",
        "20",
        "--schedule",
        "cosine",
      ],
      ...["--log", `${dir}/log.jsonl`],
    ]);
    ok(r, "train");
    const log = logLines(`${dir}/log.jsonl`);
    const mean = (l: Record<string, number>[]) => l.reduce((a, x) => a + x.loss!, 0) / l.length;
    const [first, last] = [mean(log.slice(0, 10)), mean(log.slice(-10))];
    assert(last < 0.5 * first, `loss ${first} → ${last}`);
    assertEquals(log[0]!.lr, 0); // HF warmup starts from 0
    const gen = await wgllama(
      ["run", `${dir}/trained`, "--max-tokens", "40", "--temperature", "0"],
      {
        stdin: "Weather for Oakridge,",
      },
    );
    ok(gen, "run");
    assertMatch(gen.stdout, /degrees|Wind|morning|rain|Expect|low of|High/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train: bad input gets one clear line and a non-zero exit", async () => {
  const dir = tempDir({ prefix: "wgllama-train-" });
  try {
    const tiny = `${FIXTURES}tiny-f32`;
    Deno.writeTextFileSync(
      `${dir}/bad.jsonl`,
      '{"input_ids": [1, 2, 3]}\n{"input_ids": [999, 1]}\n',
    );
    Deno.writeTextFileSync(`${dir}/broken.jsonl`, "{nope\n");
    const cases: [string[], number, RegExp][] = [
      [["train", tiny, "--out", `${dir}/o`], 2, /--data FILE\|DIR is required/],
      [["train", tiny, "--data", `${dir}/bad.jsonl`], 2, /--out DIR is required/],
      [
        ["train", tiny, "--data", `${dir}/bad.jsonl`, "--out", `${dir}/o`],
        1,
        /input id 999 at 0 is not in \[0, 512\)/,
      ],
      [
        ["train", tiny, "--data", `${dir}/broken.jsonl`, "--out", `${dir}/o`],
        1,
        /broken.jsonl:1: not valid JSON/,
      ],
      [
        ["train", tiny, "--data", `${dir}/none.txt`, "--out", `${dir}/o`],
        1,
        /--data .*none.txt: no such file or folder/,
      ],
      [
        ["train", tiny, "--data", `${dir}/bad.jsonl`, "--out", `${dir}/o`, "--schedule", "step"],
        2,
        /--schedule is "step"/,
      ],
      [
        [
          "train",
          tiny,
          "--data",
          `${dir}/bad.jsonl`,
          "--out",
          `${dir}/o`,
          "--save-dtype",
          "toString",
        ],
        2,
        /--save-dtype is "toString": expected f32, bf16 or f16/,
      ],
      [["train", "--resume", tiny], 1, /no readable trainer_state.json/],
      [["init", "--config", `${dir}/missing.json`, "--out", `${dir}/o`], 1, /missing.json/],
      [
        ["init", "--config", `${tiny}/config.json`, "--out", `${dir}/o`, "--dtype", "constructor"],
        2,
        /--dtype is "constructor": expected f32, bf16 or f16/,
      ],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await wgllama(args);
      assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assertMatch(r.stderr, pattern, args.join(" "));
      assertEquals(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`);
    }
    // Without write access the output folder is refused before any training.
    const data = `${TEXTS}weather-train.txt`;
    const r = await wgllama(["train", "stories-260k", "--data", data, "--out", `${dir}/ro`], {
      permissions: ["--allow-read", "--allow-ffi", "--allow-env"],
    });
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /^wgllama: error: Cannot write .*ro: wgllama was not given write access/);
    assertEquals(r.stdout, "");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train --dry-run reports the memory it would allocate, without a GPU run", async () => {
  const r = await wgllama([
    "train",
    "stories-260k",
    ...["--data", `${TEXTS}weather-train.txt`, "--out", "/nonexistent/never-written", "--dry-run"],
    ...["--batch-size", "4", "--seq-len", "64"],
  ], { env: { WGLLAMA_MODEL: undefined } });
  ok(r, "dry run");
  const m = JSON.parse(r.stdout);
  assertEquals(m.tokens_per_micro_batch, 256);
  assertEquals(m.total_bytes, m.state_bytes + m.activation_bytes);
  assert(m.parameters > 0 && m.state_bytes === 16 * m.parameters, JSON.stringify(m));
});

Deno.test("init as Hugging Face's _init_weights: the pad_token_id embedding row is zero, initializer_range 0 means 0.02", async () => {
  const dir = tempDir();
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: 64,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 32,
    rms_norm_eps: 1e-5,
    pad_token_id: 5,
    initializer_range: 0,
    torch_dtype: "float32",
  };
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
  const r = await wgllama(["init", "--config", `${dir}/config.json`, "--out", `${dir}/m`]);
  assertEquals(r.code, 0, r.stderr);
  const embed = readTensors(`${dir}/m/model.safetensors`).get("model.embed_tokens.weight")!;
  const row = (i: number) => embed.subarray(i * 16, (i + 1) * 16);
  assert(row(5).every((v) => v === 0), `pad row ${row(5)}`);
  const others = embed.filter((_, i) => Math.floor(i / 16) !== 5);
  const std = Math.sqrt(others.reduce((a, v) => a + v * v, 0) / others.length);
  assert(std > 0.015 && std < 0.025, `std ${std} (expected ≈ 0.02)`);
  Deno.writeTextFileSync(`${dir}/bad.json`, JSON.stringify({ ...config, pad_token_id: 64 }));
  const bad = await wgllama(["init", "--config", `${dir}/bad.json`, "--out", `${dir}/n`]);
  assertEquals(bad.code, 1);
  assertMatch(bad.stderr, /pad_token_id is 64: expected a token id below vocab_size 64/);
});
