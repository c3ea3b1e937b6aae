import { assert, assertEquals, assertRelClose } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture, goldens } from "../_fixtures.ts";
import { tempDir, tempFile } from "../_temp.ts";

Deno.test("wgllama logits --ids --out writes float32 [T, V] matching the goldens", async () => {
  for (const name of ["tiny-f32", "tiny-bf16-tied"]) {
    const g = goldens(name);
    const s = g.sequences.find((s) => s.ids.length === 16)!;
    const file = tempFile({ suffix: ".bin" });
    const r = await wgllama(["logits", fixture(name), "--ids", s.ids.join(","), "--out", file]);
    assertEquals([r.code, r.stdout], [0, ""], r.stderr);
    const got = new Float32Array(Deno.readFileSync(file).buffer);
    const want = g.logits(s);
    assertEquals(got.length, want.length);
    const V = s.logits_shape[1];
    for (let p = 0; p < s.ids.length; p++) {
      assertRelClose(
        got.subarray(p * V, (p + 1) * V),
        want.subarray(p * V, (p + 1) * V),
        1e-4,
        `${name} position ${p}`,
      );
    }
  }
});

Deno.test("wgllama logits --top prints the best tokens of every position; bad ids are one-line errors", async () => {
  const r = await wgllama([
    "logits",
    fixture("tiny-llama3-vocab"),
    "--text",
    "Hello world",
    "--top",
    "2",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  // As Hugging Face's tokenizer reads "Hello world": this fixture's post-processor adds no BOS.
  assertEquals(lines.map((l) => l.split("\t").slice(0, 2).join(",")), ["0,9906", "1,1917"]);
  assert(lines.every((l) => l.split("\t").length === 4), r.stdout);
  const bad = await wgllama(["logits", fixture("tiny-f32"), "--ids", "1,512"]);
  assertEquals(bad.code, 1);
  assert(bad.stderr.startsWith("wgllama: error: Token id 512"), bad.stderr);
  assertEquals((await wgllama(["logits", fixture("tiny-f32"), "--ids", "1,x"])).code, 2);
  assertEquals((await wgllama(["logits", fixture("tiny-f32")])).code, 2);
});

Deno.test("wgllama logits refuses, naming the tensor, a checkpoint holding a NaN; --weights q4 one beyond f16's range", async () => {
  const dir = tempDir({ prefix: "wgllama_nan_" });
  try {
    for (const f of ["config.json", "model.safetensors"]) {
      Deno.copyFileSync(`${fixture("tiny-f32")}/${f}`, `${dir}/${f}`);
    }
    const file = Deno.readFileSync(`${dir}/model.safetensors`);
    const headerBytes = Number(new DataView(file.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerBytes)));
    const [start] = header["model.layers.1.mlp.down_proj.weight"].data_offsets;
    const cases: [number, string[], string][] = [
      [NaN, [], 'tensor "model.layers.1.mlp.down_proj.weight" holds NaN or infinity (element 100)'],
      [1e6, ["--weights", "q4"], "model.layers.1.mlp.down_proj.weight: holds a NaN"],
    ];
    for (const [value, flags, message] of cases) {
      new DataView(file.buffer).setFloat32(8 + headerBytes + start + 4 * 100, value, true);
      Deno.writeFileSync(`${dir}/model.safetensors`, file);
      const r = await wgllama(["logits", dir, "--ids", "1,2", "--top", "1", ...flags]);
      assertEquals([r.code, r.stdout], [1, ""], r.stderr);
      assert(
        r.stderr.includes(message) && r.stderr.trim().split("\n").length === 1 &&
          r.stderr.includes(flags.length ? "--weights q4" : "expected finite weights"),
        r.stderr,
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
