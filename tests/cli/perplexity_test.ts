import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { wgllama, wgllamaMeasured } from "../_cli.ts";
import { fixture, goldens } from "../_fixtures.ts";
import * as ref from "../_reference.ts";
import { IGNORE_INDEX } from "../../src/model/llama.ts";
import { tempFile } from "../_temp.ts";

const MIA = goldens("stories-260k").sequences.find((s) => s.name === "seq05")!;

Deno.test("wgllama perplexity --text FILE --json: the goldens' cross-entropy, from text as HF tokenizes it", async () => {
  const file = tempFile({ suffix: ".txt" });
  Deno.writeTextFileSync(file, (MIA as unknown as { text: string }).text);
  const r = await wgllama(["perplexity", "--text", file, "--json"]);
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const targets = MIA.ids.map((_, t) => t + 1 < MIA.ids.length ? MIA.ids[t + 1]! : IGNORE_INDEX);
  const nll = ref.crossEntropy(goldens("stories-260k").logits(MIA), targets, 512)
    .reduce((a, b) => a + b, 0) / (MIA.ids.length - 1);
  assertEquals(Object.keys(j).sort(), [
    "ctx",
    "nll",
    "ppl",
    "stride",
    "tokens",
    "tokens_per_second",
    "weights",
    "windows",
  ]);
  assertEquals([j.tokens, j.windows, j.ctx, j.stride, j.weights], [174, 1, 512, 512, "stored"]);
  assert(Math.abs(j.nll - nll) / nll <= 1e-4, `${j.nll} vs ${nll}`);
  assert(Math.abs(j.ppl - Math.exp(nll)) / Math.exp(nll) <= 1e-4);
  assertEquals(r.stderr, "");
});

Deno.test("wgllama perplexity reads stdin, takes --ctx/--stride/--weights, prints one line", async () => {
  const text = (MIA as unknown as { text: string }).text;
  const r = await wgllama([
    "perplexity",
    "stories-260k",
    "--ctx",
    "64",
    "--stride",
    "32",
    "--weights",
    "q8",
  ], {
    stdin: text,
  });
  assertEquals(r.code, 0, r.stderr);
  assertMatch(
    r.stdout,
    /^perplexity \d+\.\d+ \(mean NLL \d\.\d+ nats\) over \d+ tokens, 5 windows \(ctx 64, stride 32, weights q8\); [\d.]+ tokens\/s\n$/,
  );
});

Deno.test("wgllama perplexity: bad input is one line and the right exit code", async () => {
  const cases: [string[], string | Uint8Array, number, RegExp][] = [
    [[], "", 1, /empty/],
    [[fixture("tiny-llama3-vocab")], "Hi", 1, /1 token: perplexity needs at least 2/],
    [[], new Uint8Array([0x4f, 0x6e, 0xff, 0xfe]), 1, /standard input:1: invalid UTF-8 at byte 2/],
    [
      ["--stride", "0"],
      "Once upon a time",
      2,
      /--stride is "0": expected an integer from 1 to 512/,
    ],
    [
      ["--ctx", "64", "--stride", "65"],
      "Once",
      2,
      /--stride is "65": expected an integer from 1 to 64/,
    ],
    [["--ctx", "1"], "Once", 2, /--ctx is "1": expected an integer from 2 to 512/],
    [["--ctx", "513"], "Once", 2, /--ctx is "513": expected an integer from 2 to 512/],
    [["--text", "/no/such/file"], "", 1, /Cannot read \/no\/such\/file/],
  ];
  for (const [args, stdin, code, message] of cases) {
    const r = await wgllama(["perplexity", ...args], { stdin });
    assertEquals(r.code, code, `${args}: ${r.stderr}`);
    assertMatch(r.stderr, message);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

Deno.test("wgllama perplexity scores 4,096 positions of a 128,256 vocabulary under 1 GiB peak RSS", async () => {
  const words = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "then",
    "ran",
    "far",
    "away",
    "home",
  ];
  const text = Array.from({ length: 5000 }, (_, i) => words[(i * 7 + (i >> 3)) % words.length])
    .join(" ");
  const { result: r, peakRssBytes } = await wgllamaMeasured([
    "perplexity",
    fixture("tiny-llama3-vocab"),
    "--ctx",
    "4096",
    "--json",
  ], { stdin: text });
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert(j.tokens >= 4096 && j.windows === 2 && Number.isFinite(j.nll), r.stdout);
  assert(peakRssBytes > 0 && peakRssBytes < 2 ** 30, `peak RSS ${peakRssBytes} bytes`);
});
