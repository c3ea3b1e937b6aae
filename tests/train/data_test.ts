/** Training data files: chat labels on the assistant only, text packing, pre-tokenized lines. */
import { ChatTemplate } from "../../src/text/chat_template.ts";
import { TextTokenizer } from "../../src/text/tokenizer.ts";
import { IGNORE_INDEX } from "../../src/train/batch.ts";
import { readTrainingData } from "../../src/train/data.ts";
import { InputError } from "../../src/errors.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { tempFolder } from "../_safetensors.ts";

const LLAMA3 = new URL("../fixtures/tiny-llama3-vocab", import.meta.url).pathname;
const STORIES = new URL("../../models/stories-260k", import.meta.url).pathname;

Deno.test("chat data with --chat: labels exactly on each assistant reply and its end-of-turn token", () => {
  const tokenizer = TextTokenizer.load(LLAMA3)!;
  const template = ChatTemplate.load(LLAMA3, tokenizer)!;
  const messages = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "2+2?" },
    { role: "assistant", content: "4" },
    { role: "user", content: "3+3?" },
    { role: "assistant", content: " Six, I think. " },
  ];
  const dir = tempFolder({ "chat.jsonl": JSON.stringify({ messages }) + "\n" });
  const [all] = readTrainingData(`${dir}/chat.jsonl`, { tokenizer, template }, { seqLen: 256 });
  const [chat] = readTrainingData(`${dir}/chat.jsonl`, { tokenizer, template }, {
    seqLen: 256,
    chat: true,
  });
  assertEquals(all!.labels, undefined); // every token counts without --chat
  assertEquals(chat!.inputIds, all!.inputIds);
  const labelled = chat!.labels!.map((l, i) => l === IGNORE_INDEX ? -1 : i).filter((i) => i >= 0);
  const text = (from: number, to: number) =>
    tokenizer.decode(chat!.inputIds.slice(from, to) as number[]);
  // Two runs of labels: "4<|eot_id|>" and "Six, I think.<|eot_id|>" (the template trims).
  const runs: [number, number][] = [];
  for (const i of labelled) {
    if (runs.length && runs.at(-1)![1] === i) runs.at(-1)![1] = i + 1;
    else runs.push([i, i + 1]);
  }
  assertEquals(runs.map(([a, b]) => text(a, b)), ["4<|eot_id|>", "Six, I think.<|eot_id|>"]);
  for (const i of labelled) assertEquals(chat!.labels![i], chat!.inputIds[i]);
});

Deno.test("text data is tokenized as HF does and packed into --seq-len blocks; bad lines are named", () => {
  const tokenizer = TextTokenizer.load(STORIES)!;
  const text = "Once upon a time there was a cat. ".repeat(20);
  const dir = tempFolder({
    "a.txt": text,
    "b.jsonl": `{"text": "The end."}\n{"input_ids": [1, 5, 9], "labels": [-100, 5, 9]}\n`,
    "bad.jsonl": `{"input_ids": [1, 2]}\n{"input_ids": "x"}\n`,
  });
  // --pack files: the file is one document, the short last block kept.
  const seqs = readTrainingData(`${dir}/a.txt`, { tokenizer }, { seqLen: 64, packing: "files" });
  const want = tokenizer.encode(text, { postProcess: true });
  const blocks: number[][] = [];
  for (let i = 0; i < want.length; i += 64) {
    if (want.length - i >= 2) blocks.push(want.slice(i, i + 64));
  }
  assertEquals(seqs.map((s) => s.inputIds), blocks);
  // The default, run_clm's: each line a document with its BOS (empty lines too), the remainder
  // dropped.
  const lines = ["Once upon a time.", "", "There was a cat.\r", "The end."];
  const linesDir = tempFolder({ "l.txt": lines.join("\n") + "\n" });
  const docs = ["Once upon a time.", "", "There was a cat.", "The end."]
    .flatMap((l) => tokenizer.encode(l, { postProcess: true }));
  const runClm = readTrainingData(`${linesDir}/l.txt`, { tokenizer }, { seqLen: 8 });
  const whole = docs.length - docs.length % 8;
  assertEquals(runClm.map((s) => s.inputIds).flat(), docs.slice(0, whole));
  assert(runClm.every((s) => s.inputIds.length === 8));
  assertEquals(docs.filter((id) => id === tokenizer.bosTokenId).length, 4);
  assertThrows(
    () => readTrainingData(`${linesDir}/l.txt`, { tokenizer }, { seqLen: 100 }),
    InputError,
    "do not fill one --seq-len block of 100",
  );
  const mixed = readTrainingData(`${dir}/b.jsonl`, { tokenizer }, { seqLen: 64, packing: "files" });
  assertEquals(mixed[0], { inputIds: [1, 5, 9], attentionMask: undefined, labels: [-100, 5, 9] });
  assertEquals(mixed[1]!.inputIds, tokenizer.encode("The end.", { postProcess: true }));
  // run_clm drops a text shorter than a block; the pre-tokenized line stays.
  assertEquals(readTrainingData(`${dir}/b.jsonl`, { tokenizer }, { seqLen: 64 }).length, 1);
  assertThrows(
    () => readTrainingData(`${dir}/bad.jsonl`, { tokenizer }, { seqLen: 64 }),
    InputError,
    "bad.jsonl:2",
    '"input_ids" must be an array of integers',
  );
  assertThrows(
    () => readTrainingData(`${dir}/b.jsonl`, { tokenizer }, { seqLen: 2 }),
    InputError,
    "b.jsonl:2: the sequence has 3 tokens, more than --seq-len 2",
  );
});
