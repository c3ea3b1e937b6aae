import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";
import { tempFile } from "../_temp.ts";

const LLAMA3 = fixture("tiny-llama3-vocab");
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

const LINES = [
  `{"prompt": "Hello there", "id": "a", "max_tokens": 5}`,
  `{"prompt_ids": [128000, 9906], "max_tokens": 4}`,
  ``,
  `not json`,
  `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "id": 7, "max_tokens": 6}`,
  `{"prompt": "x", "prompt_ids": [1]}`,
  `{"prompt": "again", "id": "a"}`,
];

function inputFile(lines: string[]): string {
  const path = tempFile({ suffix: ".jsonl" });
  Deno.writeTextFileSync(path, lines.join("\n") + "\n");
  return path;
}

Deno.test("wgllama batch: input order, line-numbered warnings, same answers as run", async () => {
  const r = await wgllama(["batch", LLAMA3, "--input", inputFile(LINES), "--temperature", "0"]);
  assertEquals(r.code, 0, r.stderr);
  const out = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(out.map((o) => o.id), ["a", 2, 7]);
  assertEquals(out.map((o) => o.tokens.length), [5, 4, 6]);
  for (const o of out) {
    assertEquals(Object.keys(o), ["id", "text", "tokens", "finish_reason", "prompt_tokens"]);
  }
  for (const n of [4, 6, 7]) {
    assert(r.stderr.includes(`.jsonl:${n}:`), `line ${n} reported: ${r.stderr}`);
  }
  const alone = JSON.parse(
    (await wgllama([
      "run",
      LLAMA3,
      "Hello there",
      "--max-tokens",
      "5",
      "--temperature",
      "0",
      "--json",
    ])).stdout,
  );
  assertEquals([out[0].text, out[0].tokens, out[0].prompt_tokens], [
    alone.text,
    alone.tokens,
    alone.prompt_tokens,
  ]);
  const strict = await wgllama(["batch", LLAMA3, "--input", inputFile(LINES), "--strict"]);
  assertEquals([strict.code, strict.stdout], [1, ""]);
  assert(
    strict.stderr.startsWith("wgllama: error:") && strict.stderr.includes(":4: not valid JSON"),
    strict.stderr,
  );
});

Deno.test("wgllama batch --resume after Ctrl-C completes the output with no duplicate or missing id", async () => {
  const prompts = ["one", "two", "three"].map((p) =>
    `{"prompt": "${p}", "id": "${p}", "max_tokens": 400, "temperature": 0}`
  );
  const input = inputFile(prompts);
  const output = tempFile({ suffix: ".jsonl" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "batch",
      LLAMA3,
      "--input",
      input,
      "--output",
      output,
      "--ctx",
      "512",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  while (!Deno.readTextFileSync(output).includes("\n")) await new Promise((r) => setTimeout(r, 50));
  try {
    child.kill("SIGINT");
  } catch { /* it finished first: the torn write below still exercises --resume */ }
  const status = await child.status;
  // Whatever got written before the interrupt is whole lines of the first results, in order.
  const partial = Deno.readTextFileSync(output).trimEnd().split("\n").map((l) => JSON.parse(l).id);
  assertEquals(partial, ["one", "two", "three"].slice(0, partial.length), `exit ${status.code}`);
  Deno.writeTextFileSync(output, Deno.readTextFileSync(output) + `{"id": "tw`); // a torn write
  const r = await wgllama([
    "batch",
    LLAMA3,
    "--input",
    input,
    "--output",
    output,
    "--ctx",
    "512",
    "--resume",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const ids = Deno.readTextFileSync(output).trimEnd().split("\n").map((l) => JSON.parse(l).id);
  assertEquals(ids, ["one", "two", "three"]);
});

Deno.test("wgllama batch: a prompt longer than the context is reported with its line and skipped", async () => {
  const long = Array(40).fill("word").join(" ");
  const input = inputFile([
    `{"prompt": "short one", "id": 1, "max_tokens": 3}`,
    `{"prompt": "${long}", "id": 2}`,
    `{"prompt": "another", "id": 3, "max_tokens": 3}`,
  ]);
  const r = await wgllama(["batch", LLAMA3, "--input", input, "--ctx", "24", "--temperature", "0"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).id), [1, 3]);
  assert(r.stderr.includes(".jsonl:2: the prompt has") && r.stderr.includes("skipped"), r.stderr);
  const strict = await wgllama(["batch", LLAMA3, "--input", input, "--ctx", "24", "--strict"]);
  assertEquals([strict.code, strict.stdout], [1, ""]);
});

Deno.test("wgllama batch reads OpenAI's Batch file format and writes its output lines, bodies as serve returns them; --resume works on them", async () => {
  const chat = (custom_id: string, content: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      custom_id,
      method: "POST",
      url: "/v1/chat/completions",
      body: {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content }],
        max_tokens: 6,
        temperature: 0,
        ...extra,
      },
    });
  const lines = [
    chat("first", "Hello there"),
    JSON.stringify({
      custom_id: "second",
      method: "POST",
      url: "/v1/completions",
      body: { model: "gpt-4o-mini", prompt: "Once upon", max_tokens: 4, temperature: 0 },
    }),
    chat("bad", "hi", { temperature: "hot" }),
    chat("fourth", "Tell me more", { seed: 7, temperature: 0.8, max_tokens: 5 }),
  ];
  const input = inputFile(lines);
  const output = tempFile({ suffix: ".jsonl" });
  const r = await wgllama(["batch", LLAMA3, "--input", input, "--output", output]);
  assertEquals(r.code, 0, r.stderr);
  const out = Deno.readTextFileSync(output).trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(out.map((o) => o.custom_id), ["first", "second", "bad", "fourth"]);
  for (const o of out) {
    assertEquals(Object.keys(o), ["id", "custom_id", "response", "error"]);
    assertEquals(Object.keys(o.response), ["status_code", "request_id", "body"]);
    assert(/^batch_req_/.test(o.id), o.id);
    assertEquals(o.error, null);
  }
  assertEquals(out.map((o) => o.response.status_code), [200, 200, 400, 200]);
  const [first, second, bad, fourth] = out.map((o) => o.response.body);
  assertEquals(first.object, "chat.completion");
  assertEquals(first.usage.completion_tokens, 6);
  assertEquals(second.object, "text_completion");
  assertEquals(bad.error.param, "temperature");
  // The same requests through serve give the same bodies (ids and times aside).
  const { startServer } = await import("../_serve.ts");
  const server = await startServer(LLAMA3, ["--model-id", "tiny-llama3-vocab"]);
  try {
    for (const [i, line] of [lines[0]!, lines[1]!, lines[3]!].entries()) {
      const { url, body } = JSON.parse(line);
      const res = await fetch(server.url + url.slice(3), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...body, model: "tiny-llama3-vocab" }),
      });
      const served = await res.json();
      const batched = [first, second, fourth][i];
      for (const o of [served, batched]) {
        delete o.id;
        delete o.created;
        delete o.model;
        o.usage.prompt_tokens_details = undefined;
      }
      assertEquals(batched, served, url);
    }
  } finally {
    await server.stop();
  }
  // Seeded sampling gives the same reply through run as through batch and serve.
  const run = await wgllama([
    "run",
    LLAMA3,
    "Tell me more",
    ...["--seed", "7", "--temperature", "0.8", "--max-tokens", "5", "--json"],
  ]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(JSON.parse(run.stdout).text, fourth.choices[0].message.content);
  // --resume on a cut output finishes it.
  const text = Deno.readTextFileSync(output);
  Deno.writeTextFileSync(output, text.slice(0, text.indexOf("\n") + 20)); // one line and a torn one
  const resumed = await wgllama([
    "batch",
    LLAMA3,
    "--input",
    input,
    "--output",
    output,
    "--resume",
  ]);
  assertEquals(resumed.code, 0, resumed.stderr);
  const again = Deno.readTextFileSync(output).trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(again.map((o) => o.custom_id), ["first", "second", "bad", "fourth"]);
});
