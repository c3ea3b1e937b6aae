import { InputError } from "../../src/errors.ts";
import { parseGenerationConfig, parseLlamaConfig } from "../../src/model/config.ts";
import { countParameters, expectedTensors } from "../../src/model/tensors.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { LLAMA31_70B, LLAMA32_1B, LLAMA3_8B } from "../_configs.ts";

Deno.test("countParameters() is exact for Llama-3-8B, Llama-3.2-1B (tied) and Llama-3.1-70B", () => {
  assertEquals(countParameters(parseLlamaConfig(LLAMA3_8B)).total, 8_030_261_248);
  assertEquals(countParameters(parseLlamaConfig(LLAMA32_1B)).total, 1_235_814_400);
  assertEquals(countParameters(parseLlamaConfig(LLAMA31_70B)).total, 70_553_706_496);
});

Deno.test("countParameters() splits by component and layer", () => {
  const p = countParameters(parseLlamaConfig(LLAMA3_8B));
  assertEquals(p.byComponent.embed_tokens, 525_336_576);
  assertEquals(p.byComponent.lm_head, 525_336_576);
  assertEquals(p.byComponent.k_proj, 32 * 1024 * 4096);
  assertEquals(p.perLayer.total, 218_112_000);
  assertEquals(countParameters(parseLlamaConfig(LLAMA32_1B)).byComponent.lm_head, "tied");
});

Deno.test("parseLlamaConfig() fills defaults and derived sizes", () => {
  const c = parseLlamaConfig(LLAMA3_8B);
  assertEquals([c.headDim, c.kvDim, c.qDim, c.groupSize, c.eosTokenIds], [128, 1024, 4096, 4, [
    128001,
  ]]);
  assert(Object.isFrozen(c));
  const c1 = parseLlamaConfig(LLAMA32_1B);
  assertEquals(c1.ropeScaling, {
    ropeType: "llama3",
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assertEquals(c1.eosTokenIds, [128001, 128008, 128009]);
  const { num_key_value_heads: _, ...noKv } = LLAMA3_8B;
  assertEquals(parseLlamaConfig(noKv).numKeyValueHeads, 32);
  assertEquals(
    expectedTensors(parseLlamaConfig({ ...LLAMA3_8B, attention_bias: true })).filter((t) =>
      t.name.endsWith(".bias")
    )
      .length,
    32 * 4,
  );
});

const BAD: [string, Record<string, unknown>, string[]][] = [
  ["a string number", { hidden_size: "4096" }, [`"hidden_size"`, `"4096"`, "integer"]],
  ["a negative size", { intermediate_size: -1 }, [`"intermediate_size"`, "-1"]],
  ["a missing field", { num_hidden_layers: undefined }, [`"num_hidden_layers"`, "missing"]],
  ["heads not divisible by kv heads", { num_key_value_heads: 5 }, [
    `"num_key_value_heads"`,
    "5",
    "divisor",
  ]],
  ["hidden not divisible by heads", { num_attention_heads: 3, num_key_value_heads: 1 }, [
    `"num_attention_heads"`,
    "divisor of hidden_size",
  ]],
  ["an odd head_dim", { head_dim: 7 }, [`"head_dim"`, "7", "even"]],
  ["another model_type", { model_type: "mistral" }, [`"model_type"`, `"mistral"`, `"llama"`]],
  ["another architecture", { architectures: ["GPT2LMHeadModel"] }, [
    `"architectures"`,
    "GPT2LMHeadModel",
  ]],
  ["another activation", { hidden_act: "gelu" }, [`"hidden_act"`, "gelu"]],
  ["another rope type", { rope_scaling: { rope_type: "yarn", factor: 4 } }, [`"yarn"`, "llama3"]],
  ["a zero eps", { rms_norm_eps: 0 }, [`"rms_norm_eps"`, "positive"]],
  ["a bad eos id", { eos_token_id: [1, "x"] }, [`"eos_token_id"`]],
  ["a bool as string", { tie_word_embeddings: "false" }, [
    `"tie_word_embeddings"`,
    "true or false",
  ]],
];

for (const [label, patch, parts] of BAD) {
  Deno.test(`parseLlamaConfig() refuses ${label}, naming the field and value`, () => {
    assertThrows(
      () => parseLlamaConfig({ ...LLAMA3_8B, ...patch }, "m/config.json"),
      InputError,
      "m/config.json",
      ...parts,
    );
  });
}

Deno.test("parseLlamaConfig() refuses a non-object and a config with no model type", () => {
  assertThrows(() => parseLlamaConfig([1], "c.json"), InputError, "c.json", "JSON object");
  const { model_type: _m, architectures: _a, ...bare } = LLAMA3_8B;
  assertThrows(() => parseLlamaConfig(bare, "c.json"), InputError, "model_type", "missing");
});

Deno.test("parseGenerationConfig() reads Meta's defaults and validates them", () => {
  const g = parseGenerationConfig({
    bos_token_id: 128000,
    do_sample: true,
    eos_token_id: [128001, 128008, 128009],
    temperature: 0.6,
    top_p: 0.9,
  });
  assertEquals(g, {
    eosTokenIds: [128001, 128008, 128009],
    bosTokenId: 128000,
    doSample: true,
    temperature: 0.6,
    topP: 0.9,
  });
  assertEquals(parseGenerationConfig(undefined), { eosTokenIds: [] });
  assertThrows(
    () => parseGenerationConfig({ top_p: 2 }, "g.json"),
    InputError,
    "g.json",
    `"top_p"`,
    "2",
  );
});
