import { parseToolCalls, toolCallFormat, type ToolUse } from "../../src/generate/tools.ts";
import { assertEquals } from "../_assert.ts";

const USE: ToolUse = {
  tools: [
    { type: "function", function: { name: "get_weather", parameters: { type: "object" } } },
    { type: "function", function: { name: "add" } },
  ],
  choice: "auto",
};

const calls = (text: string) =>
  parseToolCalls(text, USE)?.map((c) => [c.function.name, JSON.parse(c.function.arguments)]);

Deno.test("parseToolCalls reads Llama 3.1's call format and nothing else", () => {
  assertEquals(calls('{"name": "get_weather", "parameters": {"city": "Paris"}}'), [["get_weather", {
    city: "Paris",
  }]]);
  assertEquals(calls(' <|python_tag|>{"name": "add", "arguments": {"a": 1}} '), [["add", {
    a: 1,
  }]]);
  assertEquals(
    calls('{"name": "add", "parameters": {"s": "x;y"}}; {"name": "get_weather", "parameters": {}}'),
    [
      ["add", { s: "x;y" }],
      ["get_weather", {}],
    ],
  );
  for (
    const text of [
      "It is sunny.",
      '{"name": "unknown", "parameters": {}}',
      '{"name": "add", "parameters": 3}',
      '{"name": "add", "parameters": {',
      "",
    ]
  ) {
    assertEquals(calls(text), undefined, text);
  }
  const ids = parseToolCalls('{"name": "add"}; {"name": "add"}', USE)!.map((c) => c.id);
  assertEquals(ids.length, 2);
  assertEquals(new Set(ids).size, 2, "each call has its own id");
});

Deno.test("toolCallFormat: a call to any of the tools, or to the one named", () => {
  const any = toolCallFormat({ ...USE, choice: "required" });
  assertEquals((any as { schema: { anyOf: unknown[] } }).schema.anyOf.length, 2);
  assertEquals(toolCallFormat({ ...USE, choice: { name: "add" } }), {
    type: "json_schema",
    schema: {
      type: "object",
      properties: { name: { const: "add" }, parameters: { type: "object" } },
      required: ["name", "parameters"],
      additionalProperties: false,
    },
  });
});
