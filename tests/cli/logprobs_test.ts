/**
 * Log-probabilities as clients read them: the `openai` client against `wgllama serve` (chat,
 * streamed chat, completions with echo and max_tokens 0 as lm-evaluation-harness asks), a batch
 * line, and `run --json --logprobs`, each against the others.
 */
import OpenAI from "openai";
import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { startServer } from "../_serve.ts";
import { tempDir } from "../_temp.ts";

const CHAT_MODEL = new URL("../fixtures/tiny-llama3-vocab", import.meta.url).pathname;

function close(a: number | null | undefined, b: number | null | undefined, label: string) {
  assert(
    typeof a === "number" && typeof b === "number" && Math.abs(a - b) <= 1e-4,
    `${label}: ${a} vs ${b}`,
  );
}

Deno.test("serve: chat logprobs (whole and streamed) give each reply token with its top alternatives; greedy picks the top one", async () => {
  const server = await startServer(CHAT_MODEL, ["--model-id", "tiny"]);
  try {
    const request = {
      model: "tiny",
      messages: [{ role: "user" as const, content: "Tell me about kites." }],
      max_tokens: 8,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    };
    const whole = await server.client.chat.completions.create(request);
    const content = whole.choices[0]!.logprobs!.content!;
    assertEquals(content.length, whole.usage!.completion_tokens);
    const bytes = content.flatMap((c) => c.bytes!);
    assertEquals(
      new TextDecoder().decode(Uint8Array.from(bytes)),
      whole.choices[0]!.message.content,
    );
    for (const c of content) {
      assertEquals(c.top_logprobs.length, 3);
      assertEquals(c.top_logprobs[0]!.token, c.token, "greedy: the pick is the top token");
      close(c.top_logprobs[0]!.logprob, c.logprob, c.token);
      assert(c.logprob <= 0 && c.top_logprobs[1]!.logprob <= c.top_logprobs[0]!.logprob);
    }
    const streamed: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
    for await (
      const chunk of await server.client.chat.completions.create({ ...request, stream: true })
    ) {
      streamed.push(...chunk.choices[0]?.logprobs?.content ?? []);
    }
    assertEquals(streamed.map((c) => c.token), content.map((c) => c.token));
    streamed.forEach((c, i) => close(c.logprob, content[i]!.logprob, `streamed ${i}`));
    const without = await server.client.chat.completions.create({
      ...request,
      logprobs: false,
      top_logprobs: undefined,
    });
    assertEquals(without.choices[0]!.logprobs, null);
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("completions: logprobs of a reply equal its tokens scored with echo and max_tokens 0 (lm-evaluation-harness's request); batch and run --json agree", async () => {
  const server = await startServer("stories-260k");
  const post = async (path: string, body: unknown) =>
    await (await fetch(`${server.url.replace(/\/v1$/, "")}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    })).json();
  try {
    const { tokens: prompt } = await post("/tokenize", { prompt: "Once upon a time" });
    const asked = { model: "stories-260k", max_tokens: 6, temperature: 0, logprobs: 2 };
    const reply = await server.client.completions.create({ ...asked, prompt });
    const lp = reply.choices[0]!.logprobs!;
    assertEquals(lp.tokens!.length, 6);
    assertEquals(lp.tokens!.join(""), reply.choices[0]!.text);
    const run = JSON.parse(
      (await wgllama([
        "run",
        "stories-260k",
        "--prompt-ids",
        prompt.join(","),
        "--max-tokens",
        "6",
        "--temperature",
        "0",
        "--json",
        "--logprobs",
        "2",
      ])).stdout,
    );
    assertEquals(run.logprobs.map((t: { token: string }) => t.token), lp.tokens);
    run.logprobs.forEach((t: { logprob: number }, i: number) =>
      close(t.logprob, lp.token_logprobs![i], `run ${i}`)
    );
    // The prompt and the reply scored in one pass: nothing generated.
    const all = [...prompt, ...run.tokens];
    const scored = await server.client.completions.create({
      ...asked,
      prompt: all,
      max_tokens: 0,
      echo: true,
      logprobs: 1,
    });
    const s = scored.choices[0]!.logprobs!;
    assertEquals(scored.usage!.completion_tokens, 0);
    assertEquals(s.tokens!.length, all.length);
    assertEquals([s.token_logprobs![0], s.top_logprobs![0]], [null, null]);
    for (let i = 0; i < 6; i++) {
      const at = prompt.length + i;
      assertEquals(s.tokens![at], lp.tokens![i]);
      close(s.token_logprobs![at], lp.token_logprobs![i], `scored ${at}`);
      // lm-evaluation-harness's is_greedy: the token is the top one.
      assertEquals(Object.keys(s.top_logprobs![at]!), [lp.tokens![i]]);
    }
    assertEquals(s.text_offset![1], s.tokens![0]!.length);
    assertEquals(
      scored.choices[0]!.text,
      await post("/detokenize", { tokens: all }).then((d) => d.prompt),
    );
    // A batch line: the same body, the same log-probabilities.
    const dir = tempDir();
    const input = `${dir}/in.jsonl`;
    Deno.writeTextFileSync(
      input,
      JSON.stringify({
        custom_id: "a",
        method: "POST",
        url: "/v1/completions",
        body: { ...asked, prompt },
      }) + "\n",
    );
    const batch = await wgllama(["batch", "stories-260k", "--input", input]);
    assertEquals(batch.code, 0, batch.stderr);
    const body = JSON.parse(batch.stdout).response.body;
    assertEquals(body.choices[0].logprobs.tokens, lp.tokens);
    body.choices[0].logprobs.token_logprobs.forEach((v: number, i: number) =>
      close(v, lp.token_logprobs![i], `batch ${i}`)
    );
  } finally {
    assertEquals(await server.stop(), 0);
  }
});
