/**
 * `wgllama serve` driven by the official `openai` npm client (and raw fetch for malformed
 * requests): a spawned server, real HTTP, real streams.
 */
import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { startServer } from "../_serve.ts";

const CHAT_MODEL = new URL("../fixtures/tiny-llama3-vocab", import.meta.url).pathname;

async function collect(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let text = "";
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  return { text, finish, usage };
}

Deno.test("serve: chat completions whole and streamed agree, usage and finish_reason right, /v1/models lists the model", async () => {
  const server = await startServer(CHAT_MODEL, ["--model-id", "tiny"]);
  try {
    const { client } = server;
    const models = await client.models.list();
    assertEquals(models.data.map((m) => m.id), ["tiny"]);
    const messages = [{ role: "user" as const, content: "Tell me about kites." }];
    const whole = await client.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 12,
      temperature: 0,
    });
    assertEquals(whole.object, "chat.completion");
    assertEquals(whole.choices[0]!.message.role, "assistant");
    assertEquals(whole.choices[0]!.finish_reason, "length");
    assertEquals(whole.usage!.completion_tokens, 12);
    assertEquals(whole.usage!.total_tokens, whole.usage!.prompt_tokens + 12);
    assert(whole.usage!.prompt_tokens > 10, `prompt tokens ${whole.usage!.prompt_tokens}`);
    const streamed = await collect(
      await client.chat.completions.create({
        model: "tiny",
        messages,
        max_tokens: 12,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    assertEquals(streamed.text, whole.choices[0]!.message.content);
    assertEquals(streamed.finish, "length");
    assertEquals(streamed.usage!.completion_tokens, 12);
    // The same prompt again: its tokens (all but the last) come from a slot's cache.
    assertEquals(
      streamed.usage!.prompt_tokens_details!.cached_tokens,
      whole.usage!.prompt_tokens - 1,
    );
  } finally {
    assertEquals(await server.stop(), 0);
  }
  assertMatch(
    server.log(),
    /POST \/v1\/chat\/completions 200 prompt \d+ completion 12 ttft \d+ ms/,
  );
});

Deno.test("serve: completions honour stop strings and max_tokens; streamed text equals the whole (with deno task serve's permissions only)", async () => {
  // The task's own permission flags, on a port other than 8080 (`deno task serve --port N`).
  const task: string = JSON.parse(
    Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
  ).tasks.serve;
  const permissions = task.split(" ").filter((w) => w.startsWith("--allow-"));
  assertEquals(permissions.some((p) => p === "--allow-write" || p === "-A"), false);
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const server = await startServer(
    "stories-260k",
    ["--quiet", "--port", port],
    "none",
    permissions,
  );
  try {
    const { client } = server;
    const base = { model: "stories-260k", prompt: "Once upon a time", temperature: 0 };
    const free = await client.completions.create({ ...base, max_tokens: 30 });
    const text = free.choices[0]!.text;
    assertEquals(free.choices[0]!.finish_reason, "length");
    const cut = text.indexOf(" girl");
    assert(cut > 0, text);
    const stopped = await client.completions.create({
      ...base,
      max_tokens: 30,
      stop: [" girl", "zzz"],
    });
    assertEquals(stopped.choices[0]!.text, text.slice(0, cut));
    assertEquals(stopped.choices[0]!.finish_reason, "stop");
    let streamed = "";
    for await (
      const c of await client.completions.create({ ...base, max_tokens: 30, stream: true })
    ) {
      streamed += c.choices[0]?.text ?? "";
    }
    assertEquals(streamed, text);
    assertEquals(server.log().includes("POST"), false); // --quiet
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("serve: 16 concurrent streaming clients all complete, each greedy reply equal to wgllama run's", async () => {
  const prompts = Array.from(
    { length: 16 },
    (_, i) =>
      `${["Once upon a time", "Lily saw a", "The dog", "One day, Tom"][i % 4]} ${
        ["red", "big", "small", "happy"][Math.floor(i / 4)]
      }`,
  );
  const server = await startServer("stories-260k", ["--parallel", "8", "--quiet"]);
  let replies: string[];
  try {
    replies = await Promise.all(prompts.map(async (prompt) => {
      let text = "";
      const stream = await server.client.completions.create({
        model: "stories-260k",
        prompt,
        max_tokens: 24,
        temperature: 0,
        stream: true,
      });
      for await (const c of stream) text += c.choices[0]?.text ?? "";
      return text;
    }));
  } finally {
    assertEquals(await server.stop(), 0);
  }
  const alone = await Promise.all(prompts.map(async (prompt) => {
    const r = await wgllama(["run", "stories-260k", "--max-tokens", "24", "--temperature", "0"], {
      stdin: prompt,
    });
    assertEquals(r.code, 0, r.stderr);
    return r.stdout;
  }));
  for (const [i, prompt] of prompts.entries()) {
    assertEquals(replies[i]!.trim(), alone[i]!.trim(), prompt);
  }
});

Deno.test("serve: bad requests get OpenAI error objects and the server goes on; a client leaving mid-stream frees its slot", async () => {
  const server = await startServer("stories-260k", ["--parallel", "2", "--ctx", "64"]);
  const post = async (path: string, body: string) => {
    const r = await fetch(`${server.url}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    return { status: r.status, body: await r.json() };
  };
  try {
    const cases: [string, string, number, string | null][] = [
      ["/completions", "{nope", 400, null],
      ["/chat/completions", '{"model": "stories-260k"}', 400, "messages"],
      [
        "/completions",
        '{"model": "stories-260k", "prompt": "a", "temperature": "hot"}',
        400,
        "temperature",
      ],
      ["/completions", '{"model": "gpt-9", "prompt": "a"}', 404, "model"],
      ["/completions", '{"model": "stories-260k", "prompt": "a", "n": 9}', 400, "n"],
      [
        "/completions",
        JSON.stringify({ model: "stories-260k", prompt: "word ".repeat(80) }),
        400,
        "prompt",
      ],
      ["/nowhere", "{}", 404, null],
    ];
    for (const [path, body, status, param] of cases) {
      const r = await post(path, body);
      assertEquals(r.status, status, `${path} ${body}: ${JSON.stringify(r.body)}`);
      assertEquals(Object.keys(r.body.error).sort(), ["code", "message", "param", "type"]);
      assertEquals(r.body.error.param, param, body);
    }
    // Leave a long stream after two chunks.
    const controller = new AbortController();
    const stream = await server.client.completions.create(
      { model: "stories-260k", prompt: "Once", max_tokens: 60, temperature: 0, stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) if (++chunks === 2) controller.abort();
    } catch { /* aborted */ }
    let active = -1;
    for (let i = 0; i < 50 && active !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      active = (await (await fetch(server.url.replace("/v1", "/health"))).json()).active;
    }
    assertEquals(active, 0);
    const after = await server.client.completions.create({
      model: "stories-260k",
      prompt: "Once",
      max_tokens: 5,
      temperature: 0,
    });
    assertEquals(after.usage!.completion_tokens, 5);
  } finally {
    assertEquals(await server.stop("SIGTERM"), 0);
  }
});

Deno.test("serve --api-key: 401 without the key; --queue 0 with one slot: a second request at once is 429", async () => {
  const server = await startServer("stories-260k", [
    "--api-key",
    "sekret",
    "--parallel",
    "1",
    "--queue",
    "0",
    "--quiet",
  ], "sekret");
  try {
    const anonymous = new OpenAI({ baseURL: server.url, apiKey: "wrong", maxRetries: 0 });
    let status = 0;
    try {
      await anonymous.models.list();
    } catch (e) {
      status = (e as { status: number }).status;
    }
    assertEquals(status, 401);
    const long = server.client.completions.create({
      model: "stories-260k",
      prompt: "Once",
      max_tokens: 100,
      temperature: 0,
    });
    // The long request holds the one slot before the next is sent (arrival order is not fixed).
    for (let i = 0; i < 200; i++) {
      const load = await (await fetch(server.url.replace("/v1", "/health"))).json();
      if (load.active === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    let busy = 0;
    try {
      await server.client.completions.create({
        model: "stories-260k",
        prompt: "Lily",
        max_tokens: 5,
      });
    } catch (e) {
      busy = (e as { status: number }).status;
    }
    assertEquals(busy, 429);
    assertEquals((await long).usage!.completion_tokens > 0, true);
    const next = await server.client.completions.create({
      model: "stories-260k",
      prompt: "Lily",
      max_tokens: 5,
    });
    assertEquals(next.choices.length, 1);
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("serve: an address it cannot listen on is one clear line and exit 1", async () => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine's interface holds it.
  const r = await wgllama(["serve", "stories-260k", "--host", "192.0.2.1", "--port", "8099"], {
    permissions: ["--allow-read", "--allow-write", "--allow-ffi", "--allow-env", "--allow-net"],
  });
  assertEquals(r.code, 1, r.stderr);
  assertMatch(r.stderr, /^wgllama: error: Cannot listen on 192\.0\.2\.1:8099: \S/);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
});

Deno.test("serve: no OpenAI field is silently ignored: unsupported ones are a 400 naming them, their defaults pass", async () => {
  const server = await startServer("stories-260k");
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  try {
    const chat = {
      model: "stories-260k",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 2,
    };
    const refused: Record<string, unknown> = {
      tool_choice: "required", // without tools
      logprobs: 3, // chat's is true or false
      top_logprobs: 3, // without logprobs: true
      echo: true, // completions only
      frequency_penalty: 0.5,
      presence_penalty: 0.5,
      logit_bias: { "1": 5 },
      functions: [{ name: "f" }],
      audio: { voice: "alloy" },
      n: 9,
    };
    for (const [field, value] of Object.entries(refused)) {
      const r = await post("/chat/completions", { ...chat, [field]: value });
      assertEquals(r.status, 400, `${field}: ${JSON.stringify(r.body)}`);
      assertEquals(r.body.error.param, field);
    }
    const completion = { logprobs: 6, top_logprobs: 2, best_of: 3, suffix: "end", max_tokens: 0 };
    for (const [field, value] of Object.entries(completion)) {
      const r = await post("/completions", {
        model: "stories-260k",
        prompt: "Once",
        [field]: value,
      });
      assertEquals([r.status, r.body.error?.param], [400, field]);
    }
    const streamedEcho = await post("/completions", {
      model: "stories-260k",
      prompt: "Once",
      echo: true,
      stream: true,
    });
    assertEquals([streamedEcho.status, streamedEcho.body.error?.param], [400, "echo"]);
    const defaults = {
      model: "stories-260k",
      prompt: "Once",
      max_tokens: 2,
      tools: [],
      tool_choice: "none",
      response_format: { type: "text" },
      logprobs: false,
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: {},
      user: "me",
      store: false,
      metadata: { a: "b" },
      n: 1,
    };
    const ok = await post("/completions", defaults);
    assertEquals(ok.status, 200, JSON.stringify(ok.body));
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("serve: /tokenize gives the ids a completion's prompt becomes, /detokenize their text, /metrics counts requests, tokens and the time to first token", async () => {
  const server = await startServer(CHAT_MODEL, ["--model-id", "tiny"]);
  const root = server.url.replace("/v1", "");
  const post = async (path: string, body: unknown) =>
    await (await fetch(`${root}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    })).json();
  try {
    const messages = [{ role: "user" as const, content: "Tell me about kites." }];
    const t = await post("/tokenize", { messages });
    const reply = await server.client.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 3,
      temperature: 0,
    });
    assertEquals(t.count, reply.usage!.prompt_tokens);
    assertEquals(t.tokens.length, t.count);
    assertEquals(t.max_model_len, 4096);
    // A completion's prompt is plain text: no chat template around it.
    const text = await post("/tokenize", { prompt: "Hello world" });
    assertEquals(text.tokens, [9906, 1917]);
    assertEquals((await post("/detokenize", { tokens: text.tokens })).prompt, "Hello world");
    const plain = await server.client.completions.create({
      model: "tiny",
      prompt: "Hello world",
      max_tokens: 4,
    });
    assertEquals(plain.usage!.prompt_tokens, 2);
    const metrics = await (await fetch(`${root}/metrics`)).text();
    assertMatch(
      metrics,
      /^wgllama_requests_total\{path="\/v1\/chat\/completions",status="200"\} 1$/m,
    );
    assertMatch(metrics, /^wgllama_requests_total\{path="\/v1\/completions",status="200"\} 1$/m);
    assertMatch(metrics, /^wgllama_generation_tokens_total 7$/m);
    assertMatch(metrics, /^wgllama_requests_running 0$/m);
    assertMatch(metrics, /^wgllama_time_to_first_token_seconds_count 2$/m);
    assertMatch(metrics, /^wgllama_time_to_first_token_seconds_bucket\{le="\+Inf"\} 2$/m);
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("serve: n choices share one prefill; choice i draws as a request with seed + i; streamed choices carry their index", async () => {
  const server = await startServer(CHAT_MODEL, ["--model-id", "tiny", "--parallel", "4"]);
  try {
    const { client } = server;
    const messages = [{ role: "user" as const, content: "Tell me about kites." }];
    const base = { model: "tiny", messages, max_tokens: 6, temperature: 0.9, top_p: 1 };
    const three = await client.chat.completions.create({ ...base, n: 3, seed: 40 });
    assertEquals(three.choices.map((c) => c.index), [0, 1, 2]);
    for (const [i, choice] of three.choices.entries()) {
      const alone = await client.chat.completions.create({ ...base, seed: 40 + i });
      assertEquals(choice.message.content, alone.choices[0]!.message.content, `choice ${i}`);
    }
    assertEquals(three.usage!.completion_tokens, 18);
    const texts = new Set(three.choices.map((c) => c.message.content));
    assert(texts.size > 1, "different seeds draw different replies");
    const stream = await client.chat.completions.create({ ...base, n: 2, seed: 40, stream: true });
    const streamed = ["", ""];
    const finished: string[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        streamed[c.index] += c.delta?.content ?? "";
        if (c.finish_reason) finished.push(`${c.index}:${c.finish_reason}`);
      }
    }
    assertEquals(streamed, three.choices.slice(0, 2).map((c) => c.message.content));
    assertEquals(finished.sort(), ["0:length", "1:length"]);
    // A request counts once, whatever its n.
    const metrics = await (await fetch(server.url.replace("/v1", "/metrics"))).text();
    assertMatch(
      metrics,
      /^wgllama_requests_total\{path="\/v1\/chat\/completions",status="200"\} 5$/m,
    );
  } finally {
    assertEquals(await server.stop(), 0);
  }
});
