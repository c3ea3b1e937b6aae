/** The built-in model as a new user meets it: no MODEL argument, real English, run.c's output. */
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";

const LONG = JSON.parse(
  Deno.readTextFileSync(
    new URL("../fixtures/stories-260k/goldens/long_greedy.json", import.meta.url),
  ),
).runs as Record<string, { text: string; ids: number[]; greedy: number[] }>;

Deno.test('echo "Once upon a time" | wgllama run: the built-in model continues the story', async () => {
  const r = await wgllama(["run", "--temperature", "0", "--max-tokens", "40"], {
    stdin: "Once upon a time\n",
  });
  assertEquals(r.code, 0, r.stderr);
  assert(r.stdout.startsWith(", there was a little girl"), r.stdout);
  assertMatch(r.stderr, /no chat template; using raw completion/);
});

Deno.test("wgllama run stories-260k PROMPT --temperature 0 equals llama2.c run.c and stops where the story ends", async () => {
  const dog = LONG["The_little_dog_was_sad_because"]!;
  const r = await wgllama([
    "run",
    "stories-260k",
    dog.text,
    "--temperature",
    "0",
    "--max-tokens",
    "400",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.prompt_tokens, dog.ids.length);
  assertEquals(dog.greedy.at(-1), 1); // run.c stopped at BOS, which ends a story
  assertEquals(j.tokens, dog.greedy.slice(0, -1));
  assertEquals(j.finish_reason, "stop");
  assert(j.text.startsWith(" "), `the continuation keeps its leading space: ${j.text}`);
});

Deno.test('wgllama run stories-260k "Tom had a": the answer keeps its leading space', async () => {
  const r = await wgllama([
    "run",
    "stories-260k",
    "Tom had a",
    "--temperature",
    "0",
    "--max-tokens",
    "5",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, " big box.");
});

Deno.test("$WGLLAMA_MODEL names the default model; a MODEL argument still wins", async () => {
  const env = { WGLLAMA_MODEL: fixture("tiny-llama3-vocab") };
  const viaEnv = await wgllama(["tokenize", "--text", "Hello"], { env });
  assertEquals([viaEnv.code, viaEnv.stdout.trim()], [0, "[9906]"], viaEnv.stderr);
  const named = await wgllama(["tokenize", "stories-260k", "--text", "Hello"], { env });
  assertEquals([named.code, named.stdout.trim()], [0, "[346,306,414]"], named.stderr);
  const builtin = await wgllama(["tokenize", "--text", "Hello"]);
  assertEquals(builtin.stdout.trim(), "[346,306,414]");
  const help = await wgllama(["run", "--help"]);
  assertMatch(help.stdout, /first match wins: a folder; an org\/name .*\n.*"stories-260k"/);
});

Deno.test("wgllama chat with no MODEL: a completion REPL that prefills only each new line", async () => {
  const r = await wgllama(["chat", "--temperature", "0", "--max-tokens", "20", "--system", "x"], {
    stdin: "Once upon a time\nThe dog ran\n/stats\n/reset\nLily saw a cat\n/stats\n",
  });
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, /each line continues the text/);
  assertMatch(r.stderr, /warning: --system is ignored: the model has no chat template/);
  assertEquals(r.stderr.split("\n").filter((l) => l.includes("continues the text")).length, 1);
  const stats = r.stdout.split("\n").filter((l) => l.startsWith("last reply:"))
    .map((l) => /prefill (\d+) of (\d+)/.exec(l)!.slice(1).map(Number));
  // Turn 2 reuses turn 1's prompt and reply: only "\nThe dog ran" and the reply's last token.
  const newLine = 7; // <0x0A> T he ▁do g ▁r an
  assertEquals(stats[0], [newLine + 1, 5 + 20 + newLine]);
  assertEquals(stats[1]![0], stats[1]![1], "after /reset the new story is prefilled whole");
  assert(r.stdout.startsWith(", there was a little girl"), r.stdout);
});

Deno.test("wgllama run --system on a model without a chat template warns in one line", async () => {
  const r = await wgllama([
    "run",
    "stories-260k",
    "Once",
    "--system",
    "Be brief.",
    "--max-tokens",
    "2",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(
    r.stderr,
    /^wgllama: note: the model has no chat template; using raw completion\nwgllama: warning: --system is ignored: the model has no chat template\n$/,
  );
});
