import { generate, type GenerateOptions } from "../../src/generate/generate.ts";
import { GREEDY } from "../../src/generate/sampling.ts";
import { TextStream } from "../../src/generate/text_stream.ts";
import { assert, assertEquals } from "../_assert.ts";
import { emitting, FakeModel } from "../_fake_model.ts";

/** A byte-level vocabulary: token i < 256 is byte i; 256+ are named pieces. */
const PIECES = ["Hel", "lo ST", "OP more", "<eot>"];
const EOT = 256 + 3;
const bytes = (ids: readonly number[]) =>
  Uint8Array.from(
    ids.flatMap((id) => id < 256 ? [id] : [...new TextEncoder().encode(PIECES[id - 256]!)]),
  );
const decode = (ids: readonly number[]) => new TextDecoder().decode(bytes(ids));
const VOCAB = 260;

function options(extra: Partial<GenerateOptions> = {}): GenerateOptions {
  return { sampling: GREEDY, maxTokens: 50, terminators: new Set([EOT]), decode, ...extra };
}

Deno.test("TextStream holds back characters split across tokens and never emits U+FFFD", () => {
  const utf8 = [...new TextEncoder().encode("é👍a")]; // 2 + 4 + 1 bytes, one token per byte
  const stream = new TextStream(decode);
  const deltas = utf8.map((b) => stream.push(b));
  assertEquals(deltas, ["", "é", "", "", "", "👍", "a"]);
  assertEquals(stream.flush(), "");
});

Deno.test("generate() stops on a terminator id with finish_reason stop, without its text", async () => {
  const prompt = [1, 2, 3];
  const model = new FakeModel(VOCAB, emitting(VOCAB, () => prompt.length, [72, 105, EOT]));
  const chunks: string[] = [];
  const r = await generate(model, prompt, options({ onText: (t) => chunks.push(t) }));
  assertEquals([r.text, r.tokens, r.finishReason, chunks.join("")], [
    "Hi",
    [72, 105],
    "stop",
    "Hi",
  ]);
});

Deno.test("generate() honours --stop across token boundaries and prints none of it", async () => {
  const model = new FakeModel(VOCAB, emitting(VOCAB, () => 1, [256, 257, 258, EOT]));
  const chunks: string[] = [];
  const r = await generate(model, [1], options({ stop: ["STOP"], onText: (t) => chunks.push(t) }));
  assertEquals([r.text, r.finishReason, chunks.join("")], ["Hello ", "stop", "Hello "]);
  const none = await generate(
    new FakeModel(VOCAB, emitting(VOCAB, () => 1, [256, 257, 258, EOT])),
    [1],
    options({ stop: ["nope"] }),
  );
  assertEquals([none.text, none.finishReason], ["Hello STOP more", "stop"]);
});

Deno.test("generate() ends with finish_reason length at max tokens and when the context fills", async () => {
  const r = await generate(
    new FakeModel(VOCAB, emitting(VOCAB, () => 1, [65])),
    [1],
    options({ maxTokens: 4 }),
  );
  assertEquals([r.text, r.finishReason, r.contextFull], ["AAAA", "length", false]);
  const full = await generate(
    new FakeModel(VOCAB, emitting(VOCAB, () => 2, [66]), 5),
    [1, 2],
    options(),
  );
  assertEquals([full.text, full.finishReason, full.contextFull], ["BBBB", "context", true]);
});

Deno.test("generate() reuses the cached prefix: a second turn prefills only its new tokens", async () => {
  let promptLength = 3;
  const model = new FakeModel(VOCAB, emitting(VOCAB, () => promptLength, [67, EOT]));
  const first = await generate(model, [1, 2, 3], options());
  assertEquals([first.prefillTokens, model.computed], [3, [3, 1]]);
  const second = [1, 2, 3, 67, EOT, 9, 9];
  promptLength = second.length;
  const r = await generate(model, second, options());
  assertEquals([r.promptTokens, r.prefillTokens, model.computed.at(-2)], [7, 3, 3]);
  assert(r.text === "C");
});

Deno.test("generate() stops after the current token when aborted", async () => {
  const controller = new AbortController();
  const r = await generate(
    new FakeModel(VOCAB, emitting(VOCAB, () => 1, [68])),
    [1],
    options({
      signal: controller.signal,
      onText: () => controller.abort(),
    }),
  );
  assertEquals([r.text, r.finishReason], ["D", "interrupted"]);
});

Deno.test("generate() decodes in batches and rolls back tokens decoded past a terminator", async () => {
  const script = [72, 105, 33, EOT, 65, 66, 67, 68, 69, 70];
  const model = new FakeModel(VOCAB, emitting(VOCAB, () => 2, script));
  // Fast steps: batches grow to MAX_BATCH after the first single step.
  const r = await generate(model, [1, 2], options());
  assertEquals([r.text, r.finishReason], ["Hi!", "stop"]);
  assert(model.decodeCalls >= 1, "used batched decoding");
  assertEquals(model.tokens, [1, 2, 72, 105, 33], "cache = prompt + accepted tokens");
});

Deno.test("generateBatch() answers in input order exactly as generate() does alone", async () => {
  const { generateBatch } = await import("../../src/generate/batch.ts");
  const prompts = [[1, 2], [3], [1, 2, 4, 5]];
  const script = (history: readonly number[]) => {
    const logits = new Float32Array(VOCAB);
    logits[(history.reduce((a, b) => a * 31 + b, 7) % 200) + 30] = 5; // depends on the whole history
    return logits;
  };
  const alone = [];
  for (const p of prompts) {
    alone.push((await generate(new FakeModel(VOCAB, script), p, options({ maxTokens: 6 }))).tokens);
  }
  const order: number[] = [];
  const batched = await generateBatch(
    new FakeModel(VOCAB, script),
    prompts.map((p) => ({ promptIds: p, sampling: GREEDY, maxTokens: 6 })),
    { terminators: new Set([EOT]), decode, onResult: (i) => void order.push(i) },
  );
  assertEquals(batched.map((r) => r.tokens), alone);
  assertEquals(order, [0, 1, 2]);
});
