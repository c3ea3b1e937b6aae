/**
 * `wgllama train` never destroys work: an existing model is replaced only when asked, a sharded
 * folder is replaced whole, a non-finite step never writes NaN weights, a full disk
 * leaves the previous checkpoint whole, and a resumed log holds each step once.
 */
import { readTensors } from "../_safetensors.ts";
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { type CliResult, wgllama } from "../_cli.ts";
import { tempDir } from "../_temp.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const WEATHER = `${FIXTURES}texts/weather-train.txt`;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const BUILTIN = new URL("../../models/stories-260k", import.meta.url).pathname;

function steps(log: string): number[] {
  return Deno.readTextFileSync(log).trim().split("\n").map((l) => JSON.parse(l).step);
}

function state(dir: string): { position: { step: number } } {
  return JSON.parse(Deno.readTextFileSync(`${dir}/trainer_state.json`));
}

function oneLine(r: CliResult, code: number, pattern: RegExp, what: string): void {
  assertEquals(r.code, code, `${what}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("step "));
  assertEquals(lines.length, 1, `${what}: one line: ${r.stderr}`);
  assertMatch(lines[0]!, pattern, what);
}

function copyFolder(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    if (e.isFile) Deno.copyFileSync(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Whether a checkpoint's model.safetensors holds its f32 masters (layer 0's down_proj). */
function modelIsMasters(dir: string): boolean {
  const saved = readTensors(`${dir}/model.safetensors`).get("model.layers.0.mlp.down_proj.weight")!;
  const master = readTensors(`${dir}/optimizer.safetensors`).get("0.down.master")!;
  return saved.length === master.length && saved.every((v, i) => v === master[i]);
}

function allFinite(path: string): boolean {
  return [...readTensors(path).values()].every((t) => t.every(Number.isFinite));
}

/** A short pre-tokenized data file for the 512-token fixtures. */
function idsFile(dir: string, labels?: number[]): string {
  const path = `${dir}/ids.jsonl`;
  const rows = [[1, 5, 9, 33, 7, 2], [1, 40, 41, 42, 43, 2], [1, 100, 3, 4, 5, 2]];
  Deno.writeTextFileSync(
    path,
    rows.map((ids) => JSON.stringify(labels ? { input_ids: ids, labels } : { input_ids: ids }))
      .join("\n") + "\n",
  );
  return path;
}

Deno.test("train/init --out onto a folder holding a model: refused without --overwrite, the built-in model's folder never", async () => {
  const dir = tempDir({ prefix: "wgllama-safety-" });
  try {
    const model = `${dir}/model`;
    copyFolder(`${FIXTURES}tiny-f32`, model);
    const before = Deno.readFileSync(`${model}/model.safetensors`);
    const data = idsFile(dir);
    const r = await wgllama(["train", model, "--data", data, "--out", model, "--steps", "1"]);
    oneLine(
      r,
      1,
      /--out .*model already holds a model \(config.json, model.safetensors\): add --overwrite/,
      "train X --out X",
    );
    assertEquals(Deno.readFileSync(`${model}/model.safetensors`), before);
    const i = await wgllama(["init", "--config", `${model}/config.json`, "--out", model]);
    oneLine(i, 1, /already holds a model.*--overwrite/, "init --out onto a model");
    assertEquals(Deno.readFileSync(`${model}/model.safetensors`), before);
    const builtinBytes = Deno.readFileSync(`${BUILTIN}/model.safetensors`);
    for (const out of [BUILTIN, `${BUILTIN}/`]) {
      const b = await wgllama([
        "train",
        "stories-260k",
        ...["--data", WEATHER, "--out", out, "--overwrite", "--steps", "1"],
      ]);
      oneLine(b, 1, /is the built-in model's folder, which is never written/, `--out ${out}`);
    }
    assertEquals(Deno.readFileSync(`${BUILTIN}/model.safetensors`), builtinBytes);
    // With --overwrite the folder's model is replaced by the trained one.
    const o = await wgllama([
      "train",
      model,
      ...["--data", data, "--out", model, "--overwrite", "--steps", "1", "--lr", "1e-2"],
    ]);
    assertEquals(o.code, 0, o.stderr);
    assert(!Deno.readFileSync(`${model}/model.safetensors`).every((b, k) => b === before[k]));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train --out onto a sharded folder replaces the whole weight set; a folder with an index and a single file is refused", async () => {
  const dir = tempDir({ prefix: "wgllama-safety-" });
  try {
    const model = `${dir}/sharded`;
    copyFolder(`${FIXTURES}tiny-sharded`, model);
    const data = idsFile(dir);
    const args = ["--data", data, "--out", model, "--overwrite", "--steps", "2", "--lr", "1e-2"];
    const r = await wgllama(["train", model, ...args]);
    assertEquals(r.code, 0, r.stderr);
    const files = [...Deno.readDirSync(model)].map((e) => e.name).sort();
    assertEquals(files.filter((f) => f.includes("safetensors")), [
      "model.safetensors",
      "optimizer.safetensors",
    ]);
    // The trained weights are what loads: the masters of the checkpoint, not the old shards.
    assert(modelIsMasters(model));
    const run = await wgllama(["run", model, "--prompt-ids", "1,5,9", "--max-tokens", "3"]);
    assertEquals(run.code, 0, run.stderr);
    // Both weight sets in one folder: which is current cannot be told.
    const both = `${dir}/both`;
    copyFolder(`${FIXTURES}tiny-sharded`, both);
    Deno.copyFileSync(`${FIXTURES}tiny-f32/model.safetensors`, `${both}/model.safetensors`);
    const b = await wgllama(["run", both, "--prompt-ids", "1,5,9", "--max-tokens", "3"]);
    oneLine(b, 1, /holds both model.safetensors and model.safetensors.index.json/, "run both");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train: a non-finite gradient norm stops the run, exit 1 naming the step; the last finite state is saved; --skip-nonfinite goes on", async () => {
  const dir = tempDir({ prefix: "wgllama-safety-" });
  try {
    // A learning rate of 10 with no clipping diverges within a few steps on the built-in model.
    const diverging = [
      "train",
      "stories-260k",
      ...["--data", WEATHER, "--seq-len", "32", "--batch-size", "2", "--steps", "40"],
      ...["--lr", "10", "--max-grad-norm", "0"],
    ];
    const r = await wgllama([...diverging, "--out", `${dir}/out`, "--log", `${dir}/log.jsonl`]);
    oneLine(
      r,
      1,
      /^wgllama: error: step (\d+): the (loss|gradient norm) is (NaN|-?Infinity): training stopped/,
      "diverged",
    );
    const bad = Number(/step (\d+):/.exec(r.stderr)![1]);
    assert(bad > 1, `diverged at step ${bad}`);
    assertMatch(r.stderr, new RegExp(`last finite state \\(step ${bad - 1}\\)`));
    assertEquals(state(`${dir}/out`).position.step, bad - 1);
    assert(allFinite(`${dir}/out/model.safetensors`), "saved weights are finite");
    assertEquals(steps(`${dir}/log.jsonl`).at(-1), bad);
    // The saved model still loads and runs.
    const run = await wgllama(["run", `${dir}/out`, "--max-tokens", "2"], { stdin: "Once" });
    assertEquals(run.code, 0, run.stderr);

    const skip = await wgllama([...diverging, "--out", `${dir}/skip`, "--skip-nonfinite"]);
    assertEquals(skip.code, 0, skip.stderr);
    assertMatch(
      skip.stderr,
      new RegExp(`warning: step ${bad}: .*: skipped \\(--skip-nonfinite\\)`),
    );
    assertEquals(state(`${dir}/skip`).position.step, 40);
    assert(allFinite(`${dir}/skip/model.safetensors`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("run and serve refuse a model whose weights hold a NaN, in one line", async () => {
  const dir = tempDir({ prefix: "wgllama-safety-" });
  try {
    const model = `${dir}/nan`;
    copyFolder(BUILTIN, model);
    const path = `${model}/model.safetensors`;
    const bytes = Deno.readFileSync(path);
    const view = new DataView(bytes.buffer);
    const headerLength = Number(view.getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const at = 8 + headerLength + header["model.layers.1.mlp.down_proj.weight"].data_offsets[0];
    view.setFloat32(at + 4 * 17, NaN, true);
    Deno.writeFileSync(path, bytes);
    const want =
      /tensor "model.layers.1.mlp.down_proj.weight" holds NaN or infinity \(element 17\): expected finite weights/;
    for (const args of [["run", model, "Once"], ["serve", model, "--port", "0"]]) {
      const r = await wgllama(args, { permissions: ["-A"] });
      oneLine(r, 1, want, args[0]!);
    }
    const t = await wgllama(["train", model, "--data", WEATHER, "--out", `${dir}/o`]);
    oneLine(t, 1, want, "train");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Whether this machine lets a process mount a tmpfs in its own namespaces (util-linux unshare). */
function canUnshare(): boolean {
  try {
    return new Deno.Command("unshare", { args: ["-rm", "true"], stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "train: a disk that fills while saving leaves the previous checkpoint whole, no temporaries, one line naming the file",
  ignore: !canUnshare(),
  async fn() {
    const dir = tempDir({ prefix: "wgllama-safety-" });
    try {
      const disk = `${dir}/disk`;
      Deno.mkdirSync(disk);
      // One checkpoint of the built-in model is ~4.2 MB: a 6 MB disk holds it, not a second's temporaries.
      const script = `mount -t tmpfs -o size=6m tmpfs "$1" || exit 99
"$2" run -A "$3" train stories-260k --data "$4" --out "$1/out" --seq-len 32 --batch-size 2 \
  --steps 4 --save-every 2 --log "$1/log.jsonl" 2>"$5/stderr"
code=$?
cp -r "$1/out" "$5/copy"
exit $code`;
      const r = await new Deno.Command("unshare", {
        args: ["-rm", "sh", "-c", script, "sh", disk, Deno.execPath(), MAIN, WEATHER, dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = Deno.readTextFileSync(`${dir}/stderr`);
      assertEquals(r.code, 1, stderr);
      const lines = stderr.trim().split("\n").filter((l) => !l.startsWith("step "));
      assertEquals(lines.length, 1, stderr);
      assertMatch(
        lines[0]!,
        /^wgllama: error: Cannot write .*\/out\/[\w.]+\.tmp: No space left on device/,
      );
      const copy = `${dir}/copy`;
      assertEquals([...Deno.readDirSync(copy)].filter((e) => e.name.endsWith(".tmp")), []);
      assertEquals(state(copy).position.step, 2);
      assert(modelIsMasters(copy));
      const more = await wgllama(["train", "--resume", copy, "--steps", "3"]);
      assertEquals(more.code, 0, more.stderr);
      assertMatch(more.stdout, /trained 1 steps \(to step 3\)/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("train --resume cuts the log back to the checkpoint's step, so no step is logged twice", async () => {
  const dir = tempDir({ prefix: "wgllama-safety-" });
  try {
    const log = `${dir}/log.jsonl`;
    const common = ["--seq-len", "32", "--batch-size", "2", "--log", log];
    const first = await wgllama([
      "train",
      "stories-260k",
      ...["--data", WEATHER, "--out", `${dir}/ckpt`, "--steps", "3", ...common],
    ]);
    assertEquals(first.code, 0, first.stderr);
    // A run that went on past the checkpoint and died before saving again: steps 4 and 5 are in
    // the log, the checkpoint is still at step 3 (this run saves elsewhere).
    const lost = await wgllama([
      "train",
      ...["--resume", `${dir}/ckpt`, "--out", `${dir}/elsewhere`, "--steps", "5", "--log", log],
    ]);
    assertEquals(lost.code, 0, lost.stderr);
    Deno.writeTextFileSync(log, '{"step": 6, "lo', { append: true }); // torn by the kill
    assertEquals(state(`${dir}/ckpt`).position.step, 3);
    const resumed = await wgllama([
      "train",
      "--resume",
      `${dir}/ckpt`,
      "--steps",
      "5",
      "--log",
      log,
    ]);
    assertEquals(resumed.code, 0, resumed.stderr);
    assertEquals(steps(log), [1, 2, 3, 4, 5]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train: labels all -100 warn that nothing is counted; a check failing before training leaves no --out folder", async () => {
  const dir = tempDir({ prefix: "wgllama-safety-" });
  try {
    const data = idsFile(dir, [-100, -100, -100, -100, -100, -100]);
    const r = await wgllama([
      "train",
      `${FIXTURES}tiny-f32`,
      ...["--data", data, "--out", `${dir}/o`, "--steps", "1"],
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, /warning: .*ids.jsonl: every label is -100: no token is counted/);
    const bad = await wgllama([
      "train",
      `${FIXTURES}tiny-f32`,
      ...["--data", idsFile(dir), "--out", `${dir}/new/out`, "--eval", `${dir}/missing.txt`],
    ]);
    assertEquals(bad.code, 1, bad.stderr);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["ids.jsonl", "o"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
