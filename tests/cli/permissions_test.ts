/** Least privilege and nothing left behind (issue 14, items 11–13). */
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";
import { tempFile } from "../_temp.ts";

const READ_ONLY = ["--allow-read", "--allow-ffi", "--allow-env"];
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const TMP = Deno.env.get("TMPDIR") || "/tmp";

/** Names in the temp folder that look like ours. */
function ours(): Set<string> {
  return new Set([...Deno.readDirSync(TMP)].map((e) => e.name).filter((n) => /wgllama/i.test(n)));
}

Deno.test("read-only commands run with --allow-read --allow-ffi --allow-env and no XDG_RUNTIME_DIR, leaving nothing behind", async () => {
  const before = ours();
  const story = new URL("../fixtures/texts/cake.txt", import.meta.url).pathname;
  const runs: [string[], string?][] = [
    [["run", "--max-tokens", "3"], "Once upon a time\n"],
    [["chat", "--max-tokens", "3"], "Once\n/stats\n"],
    [["inspect"]],
    [["tokenize", "--text", "Hello"]],
    [["detokenize", "--ids", "346,306"]],
    [["gpu"]],
    [["logits", "--ids", "1,2", "--top", "1"]],
    [["perplexity", "--text", story]],
    [["compare", "--weights", "q8", "--ids", "1,2,3"]],
    [["run", "no/such-model", "hi"]], // an error leaves nothing either
  ];
  for (const [args, stdin] of runs) {
    const r = await wgllama(args, {
      permissions: READ_ONLY,
      env: { XDG_RUNTIME_DIR: undefined },
      ...(stdin === undefined ? {} : { stdin }),
    });
    const failing = args[1] === "no/such-model";
    assertEquals(r.code, failing ? 1 : 0, `${args.join(" ")}: ${r.stderr}`);
    assert(
      !/internal error|XDG_RUNTIME_DIR|Requires/.test(r.stderr),
      `${args.join(" ")}: ${r.stderr}`,
    );
  }
  assertEquals([...ours()].filter((n) => !before.has(n)), []);
});

Deno.test("writing without write access, or to a missing folder, is one line naming the path, before any loading", async () => {
  const input = tempFile({ suffix: ".jsonl" });
  Deno.writeTextFileSync(input, `{"prompt": "Once", "max_tokens": 2}\n`);
  const denied = await wgllama(["batch", "--input", input, "--output", `${input}.out`], {
    permissions: READ_ONLY,
  });
  assertEquals([denied.code, denied.stdout], [1, ""]);
  assertMatch(
    denied.stderr,
    /^wgllama: error: Cannot write .*\.out: wgllama was not given write access \(deno run --allow-write\)\n$/,
  );
  for (
    const args of [["batch", "--input", input, "--output", "/no/such/dir/x.jsonl"], [
      "logits",
      "--ids",
      "1",
      "--out",
      "/no/such/dir/x.bin",
    ]]
  ) {
    const r = await wgllama([...args, "--weights", "q4"]);
    assertEquals(r.code, 1, r.stderr);
    assertMatch(
      r.stderr,
      /^wgllama: error: Cannot write \/no\/such\/dir\/x\.(jsonl|bin): No such file or directory[^\n]*\n$/,
    );
  }
  const noTokenizer = await wgllama(["run", fixture("tiny-f32"), "hi"]);
  assertEquals(noTokenizer.code, 1);
  assertMatch(
    noTokenizer.stderr,
    /^wgllama: error: Cannot find tokenizer.json in .*tiny-f32: text prompts need one/,
  );
  const save = await wgllama(["chat", "--max-tokens", "2"], {
    stdin: "Hi\n/save /no/such/dir/c.json\n/stats\n",
    permissions: READ_ONLY,
  });
  assertEquals(save.code, 0, save.stderr);
  assertMatch(save.stderr, /wgllama: error: Cannot write \/no\/such\/dir\/c.json/);
});

Deno.test("bench interrupted while it generates its model removes the model", async () => {
  const before = ours();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "bench", "--shape", "160m", "--json"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Wait until the generated model's folder exists, then interrupt.
  let generated: string | undefined;
  for (let i = 0; i < 400 && !generated; i++) {
    await new Promise((r) => setTimeout(r, 25));
    generated = [...ours()].find((n) => !before.has(n) && n.startsWith("wgllama_bench_"));
  }
  assert(generated, "bench made its temp model");
  child.kill("SIGTERM");
  const status = await child.status;
  await child.stderr.cancel();
  assertEquals(status.code, 143);
  assertEquals([...ours()].filter((n) => !before.has(n)), []);
});
