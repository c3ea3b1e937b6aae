import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture, goldens, MODELS } from "../_fixtures.ts";

Deno.test("wgllama run --raw --prompt-ids --temperature 0 --json reproduces every greedy golden", async () => {
  for (const name of MODELS) {
    for (const s of goldens(name).sequences.slice(0, 2)) {
      const r = await wgllama([
        "run",
        fixture(name),
        "--raw",
        "--prompt-ids",
        s.ids.join(","),
        "--temperature",
        "0",
        "--max-tokens",
        String(s.greedy.length),
        "--json",
      ]);
      assertEquals(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assertEquals(j.tokens, s.greedy, `${name} ${s.name}`);
      assertEquals([j.finish_reason, j.prompt_tokens], ["length", s.ids.length]);
      assert(typeof j.text === "string" && j.timings.decode_tokens_per_second > 0);
    }
  }
});

const LLAMA3 = fixture("tiny-llama3-vocab");

Deno.test("echo hi | wgllama run: stdout carries only the answer, stderr nothing when not a TTY", async () => {
  const piped = await wgllama(["run", LLAMA3, "--max-tokens", "6", "--temperature", "0"], {
    stdin: "hi\n",
  });
  assertEquals([piped.code, piped.stderr], [0, ""]);
  assert(piped.stdout.length > 0 && !piped.stdout.includes("wgllama"), piped.stdout);
  const json = await wgllama([
    "run",
    LLAMA3,
    "hi",
    "--max-tokens",
    "6",
    "--temperature",
    "0",
    "--json",
  ]);
  const j = JSON.parse(json.stdout);
  assertEquals(j.text, piped.stdout, "argument and stdin prompts agree");
  assertEquals(j.tokens.length, 6);
});

Deno.test("wgllama run: same --seed reproduces, other seeds differ", async () => {
  const sample = async (seed: number) =>
    (await wgllama([
      "run",
      LLAMA3,
      "Once upon a time",
      "--max-tokens",
      "12",
      "--temperature",
      "1",
      "--seed",
      String(seed),
    ]))
      .stdout;
  const a = await sample(1);
  assertEquals(await sample(1), a);
  const others = new Set([a, await sample(2), await sample(3)]);
  assertEquals(others.size, 3);
});

Deno.test("wgllama run refuses bad input with one line and the right exit code", async () => {
  const empty = await wgllama(["run", LLAMA3], { stdin: "  \n" });
  assertEquals([empty.code, empty.stdout], [1, ""]);
  assert(empty.stderr.startsWith("wgllama: error: The prompt is empty"), empty.stderr);
  const long = await wgllama(["run", LLAMA3, "word ".repeat(50), "--ctx", "16"]);
  assertEquals(long.code, 1);
  assert(long.stderr.includes("--truncate"), long.stderr);
  const truncated = await wgllama([
    "run",
    LLAMA3,
    "word ".repeat(50),
    "--ctx",
    "16",
    "--max-tokens",
    "4",
    "--json",
  ]);
  assertEquals(truncated.code, 1, "--truncate is opt-in");
  const ok = await wgllama([
    "run",
    LLAMA3,
    "word ".repeat(50),
    "--ctx",
    "32",
    "--max-tokens",
    "4",
    "--truncate",
    "--json",
  ]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(ok.stderr.includes("truncated"), ok.stderr);
  assertEquals((await wgllama(["run", LLAMA3, "hi", "--temperature", "hot"])).code, 2);
  assertEquals((await wgllama(["run", LLAMA3, "hi", "--top-p", "1.5"])).code, 2);
});
