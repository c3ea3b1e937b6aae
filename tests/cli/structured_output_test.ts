/**
 * Structured output as clients ask for it: `response_format` through the `openai` client against
 * `wgllama serve`, a batch line and `run --json-schema`; every reply must parse and validate
 * (tests/_json_schema.ts, written from the specification) — even the built-in story model's,
 * which never saw JSON.
 */
import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { violation } from "../_json_schema.ts";
import { startServer } from "../_serve.ts";
import { tempDir } from "../_temp.ts";

const CHAT_MODEL = new URL("../fixtures/tiny-llama3-vocab", import.meta.url).pathname;

/** Schemas using every supported keyword, each bounded so a reply ends within its tokens. */
const SCHEMAS: Record<string, Record<string, unknown>> = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 2, maxLength: 12 },
      age: { type: "integer", minimum: 1, maximum: 99 },
      tags: { type: "array", items: { enum: ["a", "b", "c"] }, minItems: 1, maxItems: 3 },
      pet: { anyOf: [{ type: "null" }, { type: "string", maxLength: 8 }] },
      alive: { type: "boolean" },
    },
    required: ["name", "age", "tags", "pet", "alive"],
    additionalProperties: false,
  },
  codes: {
    type: "object",
    properties: {
      code: { type: "string", pattern: "^[A-Z]{3}-[0-9]{2}$" },
      kind: { const: "x" },
      mood: { enum: ["happy", "sad", 3, null] },
    },
    required: ["code", "kind", "mood"],
    additionalProperties: false,
  },
  points: {
    $defs: {
      point: {
        type: "object",
        properties: {
          x: { type: "integer", minimum: 0, maximum: 9 },
          y: { type: ["integer", "null"], minimum: -9, maximum: 9 },
        },
        required: ["x", "y"],
        additionalProperties: false,
      },
    },
    type: "array",
    items: { $ref: "#/$defs/point" },
    minItems: 1,
    maxItems: 3,
  },
  tuple: {
    type: "array",
    prefixItems: [{ type: "integer", minimum: 0, maximum: 5 }, { type: "boolean" }, {
      type: "null",
    }],
    minItems: 3,
    maxItems: 3,
  },
  tags: {
    type: "object",
    patternProperties: { "^t[0-9]$": { type: "boolean" } },
    additionalProperties: false,
    maxProperties: 2,
  },
};

function checkReply(text: string, schema: Record<string, unknown>, label: string) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${label}: not JSON: ${text}`);
  }
  const why = violation(value, schema);
  assert(why === undefined, `${label}: ${why} in ${text}`);
}

Deno.test("serve: response_format json_schema — the story model's sampled replies always parse and validate, for every supported keyword", async () => {
  const server = await startServer("stories-260k", ["--parallel", "4"]);
  try {
    const asks = Object.entries(SCHEMAS).flatMap(([name, schema]) =>
      [1, 2].map(async (seed) => {
        const r = await server.client.completions.create({
          model: "stories-260k",
          prompt: "Once upon a time",
          max_tokens: 200,
          temperature: 1,
          seed,
          // @ts-ignore: the client's completion types lack response_format; the server takes it
          response_format: { type: "json_schema", json_schema: { name, schema, strict: true } },
        });
        assertEquals(r.choices[0]!.finish_reason, "stop", `${name} ${seed}: ${r.choices[0]!.text}`);
        checkReply(r.choices[0]!.text, schema, `${name} seed ${seed}`);
        return r.choices[0]!.text;
      })
    );
    const replies = await Promise.all(asks);
    assert(new Set(replies).size > replies.length / 2, "seeds draw different documents");
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("serve: a 128k-vocabulary chat model answers in the schema (and json_object with an object); unsupported keywords are a 400 naming them", async () => {
  const server = await startServer(CHAT_MODEL, ["--model-id", "tiny"]);
  const post = async (body: Record<string, unknown>) => {
    const r = await fetch(`${server.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "Hi" }], ...body }),
    });
    return { status: r.status, body: await r.json() };
  };
  try {
    for (const name of ["person", "codes"]) {
      const schema = SCHEMAS[name]!;
      const r = await server.client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "Describe a person." }],
        max_tokens: 300,
        temperature: 0.8,
        seed: 4,
        response_format: { type: "json_schema", json_schema: { name, schema } },
      });
      assertEquals(r.choices[0]!.finish_reason, "stop", r.choices[0]!.message.content ?? "");
      checkReply(r.choices[0]!.message.content!, schema, `tiny ${name}`);
    }
    const object = await post({ max_tokens: 6, response_format: { type: "json_object" } });
    assertEquals(object.status, 200);
    assert(
      object.body.choices[0].message.content.startsWith("{"),
      object.body.choices[0].message.content,
    );
    const refused: [unknown, string][] = [
      [{ type: "integer", multipleOf: 3 }, "multipleOf"],
      [{ not: { type: "string" } }, "not"],
      [{ allOf: [{ type: "integer" }] }, "allOf"],
      [{ oneOf: [{ type: "integer" }] }, "oneOf"],
      [{ type: "array", uniqueItems: true }, "uniqueItems"],
      [{ type: "object", minProperties: 1 }, "minProperties"],
      [{ type: "string", format: "email" }, "format"],
      [{ type: "integer", exclusiveMinimum: 1 }, "exclusiveMinimum"],
      [
        { type: "object", properties: { a: { type: "integer", multipleOf: 2 } } },
        "properties.a.multipleOf",
      ],
    ];
    for (const [schema, keyword] of refused) {
      const r = await post({
        response_format: { type: "json_schema", json_schema: { name: "s", schema } },
      });
      assertEquals(r.status, 400, JSON.stringify(r.body));
      assertEquals(r.body.error.param, `response_format.json_schema.schema.${keyword}`);
    }
    const badType = await post({ response_format: { type: "xml" } });
    assertEquals([badType.status, badType.body.error.param], [400, "response_format.type"]);
    const noName = await post({
      response_format: { type: "json_schema", json_schema: { schema: {} } },
    });
    assertEquals([noName.status, noName.body.error.param], [
      400,
      "response_format.json_schema.name",
    ]);
  } finally {
    assertEquals(await server.stop(), 0);
  }
});

Deno.test("run --json-schema FILE and a batch line with response_format give valid documents; a bad schema file is one line, exit 1", async () => {
  const dir = tempDir();
  const schemaFile = `${dir}/person.json`;
  Deno.writeTextFileSync(schemaFile, JSON.stringify(SCHEMAS.person));
  const run = await wgllama([
    "run",
    "stories-260k",
    "Once upon a time",
    "--json-schema",
    schemaFile,
    "--temperature",
    "1",
    "--seed",
    "7",
  ]);
  assertEquals(run.code, 0, run.stderr);
  checkReply(run.stdout, SCHEMAS.person!, "run");
  const input = `${dir}/in.jsonl`;
  const body = {
    model: "stories-260k",
    prompt: "Once upon a time",
    max_tokens: 200,
    response_format: { type: "json_schema", json_schema: { name: "tuple", schema: SCHEMAS.tuple } },
  };
  Deno.writeTextFileSync(
    input,
    JSON.stringify({ custom_id: "t", method: "POST", url: "/v1/completions", body }) + "\n",
  );
  const batch = await wgllama(["batch", "stories-260k", "--input", input]);
  assertEquals(batch.code, 0, batch.stderr);
  checkReply(JSON.parse(batch.stdout).response.body.choices[0].text, SCHEMAS.tuple!, "batch");
  const bad = `${dir}/bad.json`;
  Deno.writeTextFileSync(bad, JSON.stringify({ type: "object", properties: { a: { not: {} } } }));
  const refused = await wgllama(["run", "stories-260k", "Once", "--json-schema", bad]);
  assertEquals(refused.code, 1);
  assertEquals(
    refused.stderr.trim().split("\n").at(-1),
    `wgllama: error: --json-schema ${bad}: "$.properties.a.not": the schema keyword "not" is not supported (supported: type, properties, required, additionalProperties, patternProperties, maxProperties, items, prefixItems, minItems, maxItems, enum, const, anyOf, pattern, minLength, maxLength, minimum, maximum, $ref, $defs, definitions)`,
  );
});
