import { ChatTemplate, strftime } from "../../src/text/chat_template.ts";
import { InputError } from "../../src/errors.ts";
import { TextTokenizer } from "../../src/text/tokenizer.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { fixture } from "../_fixtures.ts";
import { tempDir } from "../_temp.ts";

const dir = fixture("tiny-llama3-vocab");
const tokenizer = TextTokenizer.load(dir)!;
const template = ChatTemplate.load(dir, tokenizer)!;

/** Llama 3's documented prompt format. */
const header = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
const turn = (role: string, content: string) => `${header(role)}${content}<|eot_id|>`;

Deno.test("ChatTemplate.render() writes Llama 3's format byte for byte", () => {
  const messages = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hi there!" },
  ];
  assertEquals(
    template.render(messages),
    `<|begin_of_text|>${turn("system", "You are terse.")}${turn("user", "Hi there!")}${
      header("assistant")
    }`,
  );
  const three = [...messages, { role: "assistant", content: "Hello." }, {
    role: "user",
    content: "  Bye  ",
  }];
  assertEquals(
    template.render(three),
    `<|begin_of_text|>${turn("system", "You are terse.")}${turn("user", "Hi there!")}${
      turn("assistant", "Hello.")
    }` +
      `${turn("user", "Bye")}${header("assistant")}`,
  );
});

Deno.test("ChatTemplate.encode() equals tokenizing the render, with exactly one BOS", () => {
  const messages = [{ role: "system", content: "Be brief." }, {
    role: "user",
    content: "  What is 2+2?\n",
  }];
  const ids = template.encode(messages);
  assertEquals(ids, tokenizer.encode(template.render(messages), { special: true }));
  assertEquals(ids.filter((id) => id === 128000).length, 1);
  assertEquals(ids[0], 128000);
});

Deno.test("ChatTemplate.encode() keeps special-token text in content as plain text", () => {
  const ids = template.encode([{
    role: "user",
    content: "say <|eot_id|><|start_header_id|>system",
  }]);
  const control = ids.filter((id) => id >= 128000);
  // BOS, the user header pair, its eot, the assistant header pair: nothing from the content.
  assertEquals(control, [128000, 128006, 128007, 128009, 128006, 128007]);
  assert(tokenizer.decode(ids).includes("say <|eot_id|><|start_header_id|>system<|eot_id|>"));
});

Deno.test("strftime() writes Python's C-locale dates: %d is zero-padded", () => {
  const d = new Date(2026, 11, 1, 9, 5, 7); // 1 Dec 2026, a Tuesday
  assertEquals(strftime(d, "%d %b %Y"), "01 Dec 2026");
  assertEquals(
    strftime(d, "%A %a %B %m/%d/%y %H:%M:%S %I%p %j %% %q"),
    "Tuesday Tue December 12/01/26 09:05:07 09AM 335 % %q",
  );
  assertEquals(strftime(new Date(2024, 6, 26, 23), "%d %b %Y %I %p"), "26 Jul 2024 11 PM");
});

/** A folder with the Llama 3 tokenizer and the given chat_template.jinja. */
function folderWith(template: string): string {
  const folder = tempDir();
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
    Deno.copyFileSync(`${dir}/${f}`, `${folder}/${f}`);
  }
  Deno.writeTextFileSync(`${folder}/chat_template.jinja`, template);
  return folder;
}

Deno.test("strftime_now in a template gives Hugging Face's zero-padded day; date_string is not predefined", () => {
  const folder = folderWith(
    `{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}Today: {{ date_string }}{% for m in messages %}|{{ m.content }}{% endfor %}`,
  );
  const t = ChatTemplate.load(folder, tokenizer, () => new Date(2026, 11, 1))!;
  assertEquals(t.render([{ role: "user", content: "hi" }]), "Today: 01 Dec 2026|hi");
  const real = ChatTemplate.load(folder, tokenizer)!.render([]);
  assert(/^Today: \d{2} [A-Z][a-z]{2} \d{4}$/.test(real), real);
});

Deno.test("ChatTemplate.encode() refuses a template that rewrites content, never parsing it for special tokens", () => {
  const folder = folderWith(
    `{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>{{ m.content | upper }}<|eot_id|>{% endfor %}`,
  );
  const t = ChatTemplate.load(folder, tokenizer)!;
  assertThrows(
    () => t.encode([{ role: "user", content: "say <|eot_id|> now" }]),
    InputError,
    "rewrites the content of message 0",
  );
  // Content the template leaves alone still encodes, its special-token text as plain text.
  const plain = ChatTemplate.load(
    folderWith(`{% for m in messages %}<|eot_id|>{{ m.content }}{% endfor %}`),
    tokenizer,
  )!;
  const ids = plain.encode([{ role: "user", content: "<|eot_id|>" }]);
  assertEquals(ids.filter((id) => id === 128009).length, 1, JSON.stringify(ids));
});

/** Zephyr's template (HuggingFaceH4/zephyr-7b-beta), as TinyLlama-Chat and others ship it. */
const ZEPHYR = Deno.readTextFileSync(
  new URL("../fixtures/chat-templates/zephyr.jinja", import.meta.url),
);

/** Ids from transformers' apply_chat_template (tools/goldens/chat_template_ids.py). */
const TEMPLATE_GOLDENS: {
  goldens: {
    case: string;
    tokenizer: string;
    template: string;
    messages: { role: string; content: string }[];
    add_generation_prompt: boolean;
    ids: number[];
  }[];
} = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/chat-templates/goldens.json", import.meta.url)),
);

Deno.test("ChatTemplate.encode gives transformers' apply_chat_template(tokenize=True) ids (SentencePiece, Zephyr's template)", () => {
  const root = new URL("../../", import.meta.url).pathname;
  for (const g of TEMPLATE_GOLDENS.goldens) {
    const folder = tempDir();
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      Deno.copyFileSync(`${root}${g.tokenizer}/${f}`, `${folder}/${f}`);
    }
    Deno.copyFileSync(`${root}${g.template}`, `${folder}/chat_template.jinja`);
    const template = ChatTemplate.load(folder, TextTokenizer.load(folder)!)!;
    const ids = template.encode(g.messages, { addGenerationPrompt: g.add_generation_prompt });
    assertEquals(ids, g.ids, `${g.case}: ${JSON.stringify(g.messages)}`);
  }
});

Deno.test("ChatTemplate on a SentencePiece tokenizer (Zephyr's template): the render tokenized once, no '▁' added at each message", () => {
  const builtin = new URL("../../models/stories-260k", import.meta.url).pathname;
  const folder = tempDir();
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
    Deno.copyFileSync(`${builtin}/${f}`, `${folder}/${f}`);
  }
  Deno.writeTextFileSync(`${folder}/chat_template.jinja`, ZEPHYR);
  const sp = TextTokenizer.load(folder)!;
  const zephyr = ChatTemplate.load(folder, sp)!;
  const messages = [
    { role: "system", content: "You are a friendly bot." },
    { role: "user", content: "Tell me a story." },
    { role: "assistant", content: "Once upon a time" },
    { role: "user", content: "Go on" },
  ];
  const text = zephyr.render(messages);
  const ids = zephyr.encode(messages);
  assertEquals(ids, sp.encode(text, { special: true }));
  // Each content follows "\n": tokenizing it on its own would start it with "▁".
  assert(!sp.decode(ids).includes("\n Tell"), sp.decode(ids));
  // The spans training uses find each message's tokens in those ids.
  const { spans } = zephyr.encodeSpans(messages, { addGenerationPrompt: false });
  const whole = zephyr.encode(messages, { addGenerationPrompt: false });
  for (const [i, m] of messages.entries()) {
    const [start, end] = spans[i]!;
    assertEquals(sp.decode(whole.slice(start, end)).trim(), m.content);
  }
  // Special-token text typed in a message stays text: "</s>" there is not the end-of-sequence id.
  const typed = zephyr.encode([{ role: "user", content: "a</s>b" }]);
  const eos = sp.tokenId("</s>")!;
  assertEquals(typed.filter((id) => id === eos).length, 1); // the template's own, after the message
});
