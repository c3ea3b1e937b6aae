import { Engine, QueueFullError } from "../../src/generate/engine.ts";
import { generate, type GenerateOptions } from "../../src/generate/generate.ts";
import { GREEDY } from "../../src/generate/sampling.ts";
import { TextStream } from "../../src/generate/text_stream.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { InputError } from "../../src/errors.ts";
import * as ref from "../_reference.ts";
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

/** Logits that depend on the whole history: any mix-up between sequences changes the tokens. */
function historyScript(history: readonly number[]): Float32Array {
  const logits = new Float32Array(VOCAB);
  logits[(history.reduce((a, b) => a * 31 + b, 7) % 200) + 30] = 5;
  return logits;
}

Deno.test("Engine: requests in slots answer exactly as each does alone, in any order of completion", async () => {
  const prompts = [[1, 2], [3], [1, 2, 4, 5], [9, 9, 9], [7]];
  const alone = [];
  for (const [i, p] of prompts.entries()) {
    const model = new FakeModel(VOCAB, historyScript);
    alone.push((await generate(model, p, options({ maxTokens: 3 + i }))).tokens);
  }
  const model = new FakeModel(VOCAB, historyScript, 1 << 20, 2);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode });
  const results = await Promise.all(
    prompts.map((p, i) => engine.submit({ promptIds: p, sampling: GREEDY, maxTokens: 3 + i })),
  );
  assertEquals(results.map((r) => r.tokens), alone);
  assertEquals(model.mostRows, 2, "both slots decoded in one call");
});

Deno.test("Engine: a new request takes the free slot that shares the longest prefix with it", async () => {
  // Each reply is "A" then the terminator, so three requests hold three slots at once.
  const script = (history: readonly number[]) => {
    const logits = new Float32Array(VOCAB);
    logits[history.at(-1) === 65 ? EOT : 65] = 10;
    return logits;
  };
  const model = new FakeModel(VOCAB, script, 1 << 20, 3);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode });
  const ask = (p: number[]) => engine.submit({ promptIds: p, sampling: GREEDY, maxTokens: 4 });
  await Promise.all([ask([1, 2, 3]), ask([4, 5, 6, 7]), ask([8, 9])]);
  assertEquals([0, 1, 2].map((s) => model.tokensOf(s)), [[1, 2, 3, 65], [4, 5, 6, 7, 65], [
    8,
    9,
    65,
  ]]);
  const r = await ask([4, 5, 6, 7, 65, 10]);
  assertEquals([r.cachedTokens, r.prefillTokens], [5, 1]);
  assertEquals(model.tokensOf(1), [4, 5, 6, 7, 65, 10, 65]);
  assertEquals(model.tokensOf(0), [1, 2, 3, 65]);
});

Deno.test("Engine: an aborted request ends as interrupted and frees its slot; a waiting one is rejected; the context ends a reply", async () => {
  const model = new FakeModel(VOCAB, emitting(VOCAB, () => 0, [65]), 12, 1);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode });
  const controller = new AbortController();
  let chars = 0;
  const running = engine.submit({
    promptIds: [1],
    sampling: GREEDY,
    maxTokens: 100,
    signal: controller.signal,
    onText: (t) => (chars += t.length) >= 3 && controller.abort(),
  });
  const gone = new AbortController();
  gone.abort();
  const rejected = engine.submit({
    promptIds: [2],
    sampling: GREEDY,
    maxTokens: 5,
    signal: gone.signal,
  }).then(() => "resolved", (e) => e.name);
  const after = engine.submit({
    promptIds: [1, 2, 3, 4, 5, 6, 7, 8],
    sampling: GREEDY,
    maxTokens: 100,
  });
  const r = await running;
  assertEquals(r.finishReason, "interrupted");
  assert(r.tokens.length >= 3 && r.tokens.length < 100, `${r.tokens.length} tokens`);
  assertEquals(await rejected, "AbortError");
  const full = await after;
  assertEquals([full.finishReason, full.contextFull, full.tokens.length], ["context", true, 5]);
  assertEquals(engine.load, { active: 0, waiting: 0, slots: 1 });
});

Deno.test("Engine: --queue bounds the waiting requests; close() ends running ones as interrupted", async () => {
  const model = new FakeModel(VOCAB, emitting(VOCAB, () => 0, [65]), 1 << 20, 1);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode, queueLimit: 1 });
  let closing: Promise<void> | undefined;
  const first = engine.submit({
    promptIds: [1],
    sampling: GREEDY,
    maxTokens: 1000,
    onText: () => {
      if (closing) return;
      closing = Promise.resolve().then(() => engine.close());
    },
  });
  const ask = () => engine.submit({ promptIds: [1], sampling: GREEDY, maxTokens: 1000 });
  const second = ask().then(() => "resolved", (e) => e.constructor.name);
  let full = false;
  try {
    ask();
  } catch (e) {
    full = e instanceof QueueFullError;
  }
  assert(full, "a third request finds the queue full");
  assertEquals((await first).finishReason, "interrupted");
  assertEquals(await second, "ClosedError");
  await closing;
});

Deno.test("Engine: a prompt a running sequence already computed is copied into the new slot, not computed again", async () => {
  const model = new FakeModel(VOCAB, historyScript, 1 << 20, 3);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode });
  const prompt = [5, 6, 7, 8, 9, 10];
  const ask = (seed: number) =>
    engine.submit({ promptIds: prompt, sampling: { ...GREEDY, seed }, maxTokens: 5 });
  const [a, b, c] = await Promise.all([ask(1), ask(2), ask(3)]);
  assertEquals([a.cachedTokens, b.cachedTokens, c.cachedTokens], [0, 5, 5]);
  assertEquals([b.prefillTokens, c.prefillTokens], [1, 1]);
  assertEquals(model.copied, 10);
  const alone = await generate(
    new FakeModel(VOCAB, historyScript),
    prompt,
    options({ maxTokens: 5 }),
  );
  for (const r of [a, b, c]) assertEquals(r.tokens, alone.tokens);
});

Deno.test("Engine: logprobs belong to the tokens they were drawn for (batched, at any position); echo scores the prompt; max tokens 0 only scores", async () => {
  const model = new FakeModel(VOCAB, historyScript, 1 << 20, 2);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode });
  const streamed: number[] = [];
  const ask = (promptIds: number[], extra = {}) =>
    engine.submit({
      promptIds,
      sampling: { ...GREEDY, temperature: 1, seed: 5 },
      maxTokens: 7,
      logprobs: 2,
      ...extra,
    });
  const [a, b] = await Promise.all([
    ask([1, 2, 3], {
      onText: (_: string, lp?: readonly unknown[]) => streamed.push(lp?.length ?? 0),
    }),
    ask([4, 5], { echo: true }),
  ]);
  for (const [r, prompt] of [[a, [1, 2, 3]], [b, [4, 5]]] as const) {
    assertEquals(r.logprobs!.map((l) => l.id), r.tokens);
    r.logprobs!.forEach((l, i) => {
      const want = ref.logprobs(historyScript([...prompt, ...r.tokens.slice(0, i)]), l.id, 2);
      assertEquals({ logprob: l.logprob, top: l.top }, want, `token ${i}`);
    });
  }
  assertEquals(a.promptLogprobs, undefined);
  assertEquals(b.promptLogprobs!.map((l) => l.id), [5]);
  assertEquals(
    streamed.reduce((x, y) => x + y, 0),
    a.tokens.length,
    "every token's logprobs streamed once",
  );
  const scored = await ask([4, 5, 6, 7], { echo: true, maxTokens: 0 });
  assertEquals([scored.tokens, scored.promptLogprobs!.map((l) => l.id)], [[], [5, 6, 7]]);
  assertEquals(
    scored.promptLogprobs![2]!.logprob,
    ref.logprobs(historyScript([4, 5, 6]), 7, 2).logprob,
  );
  assertThrows(() => ask([1], { maxTokens: 0 }), InputError);
});

Deno.test("Engine: a constrained reply draws only what its constraint allows, one token per step, beside an unconstrained one", async () => {
  const model = new FakeModel(VOCAB, historyScript, 1 << 20, 2);
  const engine = new Engine(model, { terminators: new Set([EOT]), decode });
  const words = Math.ceil(VOCAB / 32);
  const accepted: number[] = [];
  // Only multiples of 3 may come; after 5 tokens, only the terminator.
  const constraint = {
    allowed: () => {
      const mask = new Uint32Array(words);
      for (let id = 0; id < VOCAB; id++) {
        if (accepted.length < 5 ? id % 3 === 0 : id === EOT) mask[id >>> 5]! |= 1 << (id & 31);
      }
      return Promise.resolve(mask);
    },
    accept: (id: number) => (accepted.push(id), id % 3 === 0),
  };
  const sampling = { ...GREEDY, temperature: 1, seed: 9 };
  const [free, bound] = await Promise.all([
    engine.submit({ promptIds: [1, 2], sampling, maxTokens: 20 }),
    engine.submit({ promptIds: [3, 4], sampling, maxTokens: 20, constraint }),
  ]);
  assertEquals(bound.tokens, accepted);
  assertEquals([bound.tokens.length, bound.finishReason], [5, "stop"]);
  assert(bound.tokens.every((id) => id % 3 === 0), `${bound.tokens}`);
  assert(free.tokens.some((id) => id % 3 !== 0), "the other reply is not constrained");
  assertEquals(free.tokens.length, 20);
  assertEquals(model.maskedSteps, 6, "five tokens and the terminator, each drawn under a mask");
});
