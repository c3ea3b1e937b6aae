/**
 * The model's Jinja chat template (tokenizer_config.json `chat_template`, or chat_template.jinja)
 * rendered with `@huggingface/jinja`, and encoded so that the template's own special tokens are
 * control tokens while message content is always plain text.
 * @module
 */
import { Template } from "@huggingface/jinja";
import { InputError } from "../errors.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/** One chat message. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string;
}

/** Marks content positions in a render: private-use characters no template produces. */
const MARK = (i: number) => `\uE000${i}\uE001`;
const MARK_RE = /\uE000(\d+)\uE001/;

/** A compiled chat template bound to its tokenizer. */
export class ChatTemplate {
  readonly #template: Template;
  readonly #tokenizer: TextTokenizer;
  readonly #vars: Record<string, unknown>;

  private constructor(source: string, tokenizer: TextTokenizer, origin: string) {
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw new InputError(
        `Cannot parse the chat template of ${origin}: ${e instanceof Error ? e.message : e}`,
      );
    }
    this.#tokenizer = tokenizer;
    const text = (
      t: unknown,
    ) => (typeof t === "string" ? t : (t as { content?: string } | null)?.content ?? "");
    this.#vars = {
      bos_token: text(tokenizer.config.bos_token),
      eos_token: text(tokenizer.config.eos_token),
    };
  }

  /** The folder's template (chat_template.jinja, else tokenizer_config.json), if it has one. */
  static load(dir: string, tokenizer: TextTokenizer): ChatTemplate | undefined {
    try {
      return new ChatTemplate(
        Deno.readTextFileSync(`${dir}/chat_template.jinja`),
        tokenizer,
        `${dir}/chat_template.jinja`,
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    let source = tokenizer.config.chat_template;
    if (Array.isArray(source)) source = source.find((t) => t?.name === "default")?.template;
    if (typeof source !== "string") return undefined;
    return new ChatTemplate(source, tokenizer, `${dir}/tokenizer_config.json`);
  }

  /** The conversation as text, exactly as the template writes it. */
  render(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean } = {},
  ): string {
    return this.#render(messages, options.addGenerationPrompt ?? true);
  }

  /**
   * Token ids of the conversation: template text with special tokens parsed, each message's
   * content encoded as plain text (a user typing `<|eot_id|>` gets ordinary tokens).
   */
  encode(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean } = {},
  ): number[] {
    const gen = options.addGenerationPrompt ?? true;
    const real = this.#render(messages, gen);
    const marked = this.#render(messages.map((m, i) => ({ ...m, content: MARK(i) })), gen);
    const ids: number[] = [];
    let pos = 0; // position in `real`
    const pieces = marked.split(MARK_RE); // template, index, template, index, …, template
    for (let p = 0; p < pieces.length; p += 2) {
      const template = pieces[p]!;
      if (!real.startsWith(template, pos)) return this.#tokenizer.encode(real, { special: true }); // not alignable
      ids.push(...this.#tokenizer.encode(template, { special: true }));
      pos += template.length;
      if (p + 1 >= pieces.length) break;
      const content = messages[Number(pieces[p + 1])]!.content;
      const next = pieces[p + 2] ?? "";
      // Templates may transform content (Llama 3's `| trim`); find the form that was written.
      const written = [content, content.trim(), content.trimStart(), content.trimEnd()]
        .find((c) => real.startsWith(c + next, pos));
      if (written === undefined) return this.#tokenizer.encode(real, { special: true });
      ids.push(...this.#tokenizer.encode(written));
      pos += written.length;
    }
    return ids;
  }

  #render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    const now = new Date();
    const dateString = `${now.getDate()} ${
      now.toLocaleString("en-US", { month: "short" })
    } ${now.getFullYear()}`;
    try {
      return this.#template.render({
        ...this.#vars,
        messages,
        add_generation_prompt: addGenerationPrompt,
        date_string: dateString,
      });
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(
        `Cannot render the chat template: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
}
