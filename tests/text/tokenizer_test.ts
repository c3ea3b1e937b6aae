import { TextTokenizer } from "../../src/text/tokenizer.ts";
import { assert, assertEquals } from "../_assert.ts";
import { fixture } from "../_fixtures.ts";

const tokenizer = TextTokenizer.load(fixture("tiny-llama3-vocab"))!;
const GOLDEN = JSON.parse(Deno.readTextFileSync(fixture("tokenizer-llama3.json"))) as {
  cases: { text: string; ids: number[] }[];
};

Deno.test("TextTokenizer.encode() matches every Llama 3 tokenizer golden (special text parsed)", () => {
  for (const c of GOLDEN.cases) {
    assertEquals(tokenizer.encode(c.text, { special: true }), c.ids, JSON.stringify(c.text));
    assertEquals(tokenizer.decode(c.ids), c.text, `decode ${JSON.stringify(c.text)}`);
  }
});

Deno.test("TextTokenizer.encode() keeps special-token text plain by default", () => {
  const eot = tokenizer.specialTokens.get("<|eot_id|>")!;
  assertEquals(eot, 128009);
  const text = "stop <|eot_id|> now <|begin_of_text|>";
  const plain = tokenizer.encode(text);
  assert(plain.every((id) => id < 128000), `plain encoding has control tokens: ${plain}`);
  assertEquals(tokenizer.decode(plain), text);
  assert(tokenizer.encode(text, { special: true }).includes(eot));
});

Deno.test("TextTokenizer.encode() adds one BOS on request, never two", () => {
  assertEquals(tokenizer.bosTokenId, 128000);
  assertEquals(tokenizer.encode("hi", { bos: true }), [128000, 6151]);
  assertEquals(tokenizer.encode("<|begin_of_text|>hi", { bos: true, special: true }), [
    128000,
    6151,
  ]);
});
