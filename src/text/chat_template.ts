/**
 * The model's Jinja chat template (tokenizer_config.json `chat_template`, or chat_template.jinja)
 * rendered with `@huggingface/jinja`, and encoded so that the template's own special tokens are
 * control tokens while message content is always plain text.
 * @module
 */
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { InputError } from "../errors.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/** One chat message. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string;
  /** An assistant's calls, arguments as objects (as Hugging Face's templates take them). */
  tool_calls?: { id?: string; type: "function"; function: { name: string; arguments: unknown } }[];
  /** A tool result's call. */
  tool_call_id?: string;
}

/** What a render is given besides the messages. */
export interface RenderOptions {
  addGenerationPrompt?: boolean;
  /** The functions the model may call, in OpenAI's shape (a template that takes `tools`). */
  tools?: readonly unknown[];
}

/** Marks content positions in a render: private-use characters no template produces. */
const MARK = (i: number) => `\uE000${i}\uE001`;
const MARK_RE = /\uE000(\d+)\uE001/;

const MONTHS =
  "January February March April May June July August September October November December"
    .split(" ");
const DAYS = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday".split(" ");

/** Python's `date.strftime(format)` in the C locale (the directives chat templates use). */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const start = Date.UTC(date.getFullYear(), 0, 1);
  const dayOfYear = Math.floor(
    (Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()) - start) / 86_400_000,
  ) + 1;
  const fields: Record<string, () => string> = {
    a: () => DAYS[date.getDay()]!.slice(0, 3),
    A: () => DAYS[date.getDay()]!,
    b: () => MONTHS[date.getMonth()]!.slice(0, 3),
    B: () => MONTHS[date.getMonth()]!,
    d: () => pad(date.getDate()),
    m: () => pad(date.getMonth() + 1),
    y: () => pad(date.getFullYear() % 100),
    Y: () => String(date.getFullYear()),
    H: () => pad(date.getHours()),
    I: () => pad((date.getHours() + 11) % 12 + 1),
    p: () => (date.getHours() < 12 ? "AM" : "PM"),
    M: () => pad(date.getMinutes()),
    S: () => pad(date.getSeconds()),
    j: () => pad(dayOfYear, 3),
    "%": () => "%",
  };
  return format.replace(/%(.)/g, (all, c: string) => fields[c]?.() ?? all);
}

/** ids.push(...more) without spreading: a 1 MB message has more tokens than a call has arguments. */
function append(ids: number[], more: readonly number[]): void {
  for (const id of more) ids.push(id);
}

/** Python's range(stop) / range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function unaligned(at: number, message?: number): InputError {
  return new InputError(
    `Cannot encode the chat safely: the chat template ${
      message === undefined
        ? "writes different text around the messages"
        : `rewrites the content of message ${message} (not as written or trimmed)`
    } at character ${at} of the rendered text`,
  );
}

/** A compiled chat template bound to its tokenizer. */
export class ChatTemplate {
  readonly #template: Template;
  /** Whether the template reads a `tools` variable (else it cannot offer functions). */
  readonly acceptsTools: boolean;
  readonly #tokenizer: TextTokenizer;
  readonly #vars: Record<string, unknown>;
  readonly #now: () => Date;

  private constructor(
    source: string,
    tokenizer: TextTokenizer,
    origin: string,
    now: () => Date = () => new Date(),
  ) {
    this.#now = now;
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw new InputError(
        `Cannot parse the chat template of ${origin}: ${e instanceof Error ? e.message : e}`,
      );
    }
    this.acceptsTools = /\btools\b/.test(source);
    this.#tokenizer = tokenizer;
    const text = (
      t: unknown,
    ) => (typeof t === "string" ? t : (t as { content?: string } | null)?.content ?? "");
    this.#vars = {
      bos_token: text(tokenizer.config.bos_token),
      eos_token: text(tokenizer.config.eos_token),
    };
  }

  /**
   * The folder's template (chat_template.jinja, else tokenizer_config.json), if it has one.
   * `now` is the clock of `strftime_now` (for tests).
   */
  static load(
    dir: string,
    tokenizer: TextTokenizer,
    now?: () => Date,
  ): ChatTemplate | undefined {
    try {
      return new ChatTemplate(
        Deno.readTextFileSync(`${dir}/chat_template.jinja`),
        tokenizer,
        `${dir}/chat_template.jinja`,
        now,
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    let source = tokenizer.config.chat_template;
    if (Array.isArray(source)) source = source.find((t) => t?.name === "default")?.template;
    if (typeof source !== "string") return undefined;
    return new ChatTemplate(source, tokenizer, `${dir}/tokenizer_config.json`, now);
  }

  /** The conversation as text, exactly as the template writes it. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    return this.#render(messages, options.addGenerationPrompt ?? true, options.tools);
  }

  /**
   * Token ids of the conversation, as Hugging Face's `apply_chat_template(…, tokenize=True)`
   * gives them: the whole rendered text tokenized once, special tokens parsed. One difference, by
   * design: special-token text inside a message (a user typing `<|eot_id|>`) stays plain text;
   * then the template's text and each message are tokenized in turn, each message as a
   * continuation of what precedes it. A template that rewrites content beyond trimming it is
   * refused: its messages cannot be told from its own text.
   */
  encode(messages: readonly ChatMessage[], options: RenderOptions = {}): number[] {
    return this.#encode(messages, options.addGenerationPrompt ?? true, false, options.tools).ids;
  }

  /**
   * {@linkcode encode}, also giving where each message's content lies in the ids ([start, end),
   * by message index; a message the template does not write has none): what training needs to
   * count the loss on the assistant's tokens only.
   */
  encodeSpans(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean } = {},
  ): { ids: number[]; spans: ([number, number] | undefined)[] } {
    return this.#encode(messages, options.addGenerationPrompt ?? true, true);
  }

  /** The ids, and (when `withSpans`; inference needs none) each message's span in them. */
  #encode(
    messages: readonly ChatMessage[],
    gen: boolean,
    withSpans: boolean,
    tools?: readonly unknown[],
  ): { ids: number[]; spans: ([number, number] | undefined)[] } {
    const real = this.#render(messages, gen, tools);
    const pieces = this.#pieces(messages, real, gen, tools);
    const specials = [...this.#tokenizer.specialTokens.keys()];
    const plain = pieces.every((p) =>
      p.message === undefined || !specials.some((t) => p.text.includes(t))
    );
    if (plain) {
      // The common case: tokenized once, and each message found where its text starts and ends.
      const ids = this.#tokenizer.encode(real, { special: true });
      if (!withSpans) return { ids, spans: [] };
      const spans = this.#spansIn(ids, pieces, messages.length);
      if (spans) return { ids, spans };
    }
    const ids: number[] = [];
    const spans: ([number, number] | undefined)[] = messages.map(() => undefined);
    for (const p of pieces) {
      const start = ids.length;
      const more = p.message === undefined
        ? this.#tokenizer.encode(p.text, { special: true })
        : start === 0
        ? this.#tokenizer.encode(p.text)
        : this.#tokenizer.encodeContinuation(p.text);
      append(ids, more);
      if (p.message !== undefined) spans[p.message] = [start, ids.length];
    }
    return { ids, spans };
  }

  /**
   * The rendered text cut into the template's own text and each message's content (as written:
   * templates may trim it), found by rendering again with markers in place of the contents.
   */
  #pieces(
    messages: readonly ChatMessage[],
    real: string,
    gen: boolean,
    tools?: readonly unknown[],
  ): { text: string; message?: number; at: number }[] {
    const marked = this.#render(messages.map((m, i) => ({ ...m, content: MARK(i) })), gen, tools);
    const out: { text: string; message?: number; at: number }[] = [];
    let pos = 0; // position in `real`
    const parts = marked.split(MARK_RE); // template, index, template, index, …, template
    for (let p = 0; p < parts.length; p += 2) {
      const template = parts[p]!;
      if (!real.startsWith(template, pos)) throw unaligned(pos);
      if (template) out.push({ text: template, at: pos });
      pos += template.length;
      if (p + 1 >= parts.length) break;
      const index = Number(parts[p + 1]);
      const content = messages[index]!.content;
      const next = parts[p + 2] ?? "";
      // As written, trimmed, or as a JSON string's inside (Llama 3.1 writes tool results `tojson`).
      const written = [
        content,
        content.trim(),
        content.trimStart(),
        content.trimEnd(),
        JSON.stringify(content).slice(1, -1),
      ].find((c) => real.startsWith(c + next, pos));
      if (written === undefined) throw unaligned(pos, index);
      out.push({ text: written, message: index, at: pos });
      pos += written.length;
    }
    return out;
  }

  /**
   * Where each message lies in `ids` (the whole text's tokens): the tokens of the text before it
   * and up to its end, when those are prefixes of `ids` (a token that straddles a message's edge
   * makes them not: then undefined).
   */
  #spansIn(
    ids: readonly number[],
    pieces: readonly { text: string; message?: number; at: number }[],
    count: number,
  ): ([number, number] | undefined)[] | undefined {
    const spans: ([number, number] | undefined)[] = new Array(count).fill(undefined);
    const real = pieces.map((p) => p.text).join("");
    const prefixLength = (end: number): number | undefined => {
      const head = this.#tokenizer.encode(real.slice(0, end), { special: true });
      return head.every((id, i) => ids[i] === id) ? head.length : undefined;
    };
    for (const p of pieces) {
      if (p.message === undefined) continue;
      const start = prefixLength(p.at);
      const end = prefixLength(p.at + p.text.length);
      if (start === undefined || end === undefined) return undefined;
      spans[p.message] = [start, end];
    }
    return spans;
  }

  #render(
    messages: readonly ChatMessage[],
    addGenerationPrompt: boolean,
    tools?: readonly unknown[],
  ): string {
    try {
      // Template.render's globals, except that strftime_now follows Python's C locale ("Dec", not
      // the system locale's month) as transformers' does; and, as transformers, no date_string.
      const env = new Environment();
      const variables = {
        true: true,
        false: false,
        none: null,
        True: true,
        False: false,
        None: null,
        raise_exception: (message: string) => {
          throw new Error(message);
        },
        range: pythonRange,
        strftime_now: (format: string) => strftime(this.#now(), format),
        ...this.#vars,
        messages,
        add_generation_prompt: addGenerationPrompt,
        ...(tools ? { tools } : {}),
      };
      for (const [name, value] of Object.entries(variables)) env.set(name, value);
      return (new Interpreter(env).run(this.#template.parsed) as { value: string }).value;
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(
        `Cannot render the chat template: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
}
