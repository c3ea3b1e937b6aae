/**
 * Tool calls as agent frameworks drive them: the `openai` client against `wgllama serve` with
 * Meta's Llama 3.1 template — required and named calls (constrained, so they always parse and
 * validate), streamed `delta.tool_calls`, the call and its result rendered back in the history,
 * and the 400s — plus a batch line.
 */
import type OpenAI from "openai";
import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { violation } from "../_json_schema.ts";
import { startServer } from "../_serve.ts";
import { tempDir } from "../_temp.ts";
import { toolModel } from "../_tool_model.ts";

const WEATHER = {
  type: "object",
  properties: {
    city: { type: "string", minLength: 1, maxLength: 12 },
    unit: { enum: ["c", "f"] },
  },
  required: ["city", "unit"],
  additionalProperties: false,
};
const ADD = {
  type: "object",
  properties: {
    a: { type: "integer", minimum: 0, maximum: 99 },
    b: { type: "integer", minimum: 0, maximum: 99 },
  },
  required: ["a", "b"],
  additionalProperties: false,
};
const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: "function",
    function: { name: "get_weather", description: "Weather in a city", parameters: WEATHER },
  },
  { type: "function", function: { name: "add", description: "a + b", parameters: ADD } },
];
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: WEATHER, add: ADD };
const messages = [{ role: "user" as const, content: "What is the weather in Paris?" }];

function checkCall(call: { function: { name: string; arguments: string } }, label: string) {
  const schema = SCHEMAS[call.function.name];
  assert(schema, `${label}: unknown function ${call.function.name}`);
  const why = violation(JSON.parse(call.function.arguments), schema);
  assert(why === undefined, `${label}: ${why} in ${call.function.arguments}`);
}

Deno.test("serve: required and named tool calls always parse and validate (whole and streamed); history with a call and its result renders; auto may answer in text", async () => {
  const server = await startServer(toolModel(), ["--model-id", "tiny"]);
  const { client } = server;
  try {
    for (
      const [choice, seed] of [["required", 1], ["required", 2], [{
        type: "function",
        function: { name: "add" },
      }, 3]] as const
    ) {
      const r = await client.chat.completions.create({
        model: "tiny",
        messages,
        tools: TOOLS,
        tool_choice: choice,
        max_tokens: 80,
        temperature: 1,
        seed,
      });
      const c = r.choices[0]!;
      assertEquals([c.finish_reason, c.message.content], ["tool_calls", null]);
      assertEquals(c.message.tool_calls!.length, 1);
      const call = c.message
        .tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
      assertEquals(call.type, "function");
      assert(call.id.startsWith("call_"), call.id);
      if (typeof choice === "object") assertEquals(call.function.name, "add");
      checkCall(call, `${JSON.stringify(choice)} ${seed}`);
    }
    // Streamed: the call arrives as delta.tool_calls, then finish_reason tool_calls.
    const deltas: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (
      const chunk of await client.chat.completions.create({
        model: "tiny",
        messages,
        tools: TOOLS,
        tool_choice: "required",
        max_tokens: 80,
        stream: true,
      })
    ) {
      deltas.push(...chunk.choices[0]?.delta.tool_calls ?? []);
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assertEquals([deltas.length, finish], [1, "tool_calls"]);
    checkCall(deltas[0]! as { function: { name: string; arguments: string } }, "streamed");
    // The call and its result go back into the conversation as the template writes them.
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      ...messages,
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city": "Paris", "unit": "c"}' },
        }],
      },
      { role: "tool", tool_call_id: "call_1", content: "21 degrees" },
    ];
    const next = await client.chat.completions.create({
      model: "tiny",
      messages: history,
      tools: TOOLS,
      max_tokens: 4,
    });
    assertEquals(next.choices[0]!.message.role, "assistant");
    const base = server.url.replace(/\/v1$/, "");
    const post = async (path: string, body: unknown) =>
      await (await fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      })).json();
    const { tokens } = await post("/tokenize", { model: "tiny", messages: history, tools: TOOLS });
    const { prompt } = await post("/detokenize", { tokens });
    assert(
      prompt.includes(
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}<|eot_id|>',
      ),
      prompt,
    );
    assert(
      prompt.includes('<|start_header_id|>ipython<|end_header_id|>\n\n"21 degrees"<|eot_id|>'),
      prompt,
    );
    assert(prompt.includes('"name": "add"'), "the tools are in the prompt");
    // auto: this random model answers in text; a reply that is not a call stays content.
    const auto = await client.chat.completions.create({
      model: "tiny",
      messages,
      tools: TOOLS,
      max_tokens: 8,
      temperature: 0,
    });
    assertEquals(typeof auto.choices[0]!.message.content, "string");
    assertEquals(auto.choices[0]!.message.tool_calls, undefined);
    // Refusals name the field.
    const refusals: [string, Record<string, unknown>, string][] = [
      [
        "/v1/chat/completions",
        { tool_choice: { type: "function", function: { name: "nope" } } },
        "tool_choice.function.name",
      ],
      [
        "/v1/chat/completions",
        { tools: [{ type: "function", function: { name: "bad name!" } }] },
        "tools[0].function.name",
      ],
      ["/v1/chat/completions", {
        tools: [{
          type: "function",
          function: { name: "f", parameters: { type: "object", not: {} } },
        }],
      }, "tools[0].function.parameters.not"],
      ["/v1/chat/completions", { tool_choice: "required", tools: undefined }, "tool_choice"],
      ["/v1/completions", { prompt: "Hi", messages: undefined }, "tools"],
    ];
    for (const [path, extra, param] of refusals) {
      const r = await fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages, tools: TOOLS, ...extra }),
      });
      const body = await r.json();
      assertEquals([r.status, body.error?.param], [400, param], JSON.stringify(body));
    }
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("serve: tools to a model whose template cannot take them are a 400; a batch line's required call comes back as tool_calls", async () => {
  const plain = await startServer(
    new URL("../fixtures/tiny-llama3-vocab", import.meta.url).pathname,
    ["--model-id", "tiny"],
  );
  try {
    const r = await fetch(`${plain.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages, tools: TOOLS }),
    });
    const body = await r.json();
    assertEquals([r.status, body.error.param], [400, "tools"], JSON.stringify(body));
  } finally {
    assertEquals(await plain.stop(), 0);
  }
  const dir = tempDir();
  const input = `${dir}/in.jsonl`;
  const line = {
    custom_id: "c",
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "tiny", messages, tools: TOOLS, tool_choice: "required", max_tokens: 80 },
  };
  Deno.writeTextFileSync(input, JSON.stringify(line) + "\n");
  const batch = await wgllama(["batch", toolModel(), "--input", input]);
  assertEquals(batch.code, 0, batch.stderr);
  const choice = JSON.parse(batch.stdout).response.body.choices[0];
  assertEquals(choice.finish_reason, "tool_calls");
  checkCall(choice.message.tool_calls[0], "batch");
});
