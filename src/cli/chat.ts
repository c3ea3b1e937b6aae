/**
 * `wgllama chat MODEL`: an interactive REPL with streaming replies and multi-turn history; the KV
 * cache is reused across turns so only each new turn is prefilled. Also driven by scripts: with
 * stdin not a TTY, each line is one user turn (or a /command).
 * @module
 */
import { InputError, UsageError } from "../errors.ts";
import { generate, type GenerateResult } from "../generate/generate.ts";
import { FieldError, mergeSampling, parseSettings } from "../generate/request.ts";
import { promptIds } from "../generate/session.ts";
import type { ChatMessage } from "../text/chat_template.ts";
import { command, MODEL_HELP, modelArg } from "./args.ts";
import { stdinLines } from "./input.ts";
import { err, mayReplace, out, writeFileText } from "./output.ts";
import { GENERATION_FLAGS, GENERATION_HELP, openSession, type Session } from "./session.ts";

const COMMANDS_HELP = `Commands:
  /help                 this list
  /reset                forget the conversation (keeps the system message); without a chat
                        template, start a new text
  /system TEXT          set the system message and reset
  /set KEY VALUE        temperature | top_p | top_k | min_p | repetition_penalty | max_tokens | seed
  /stats                speed of the last reply and context used
  /save FILE            write the conversation as JSON messages
  /exit                 leave (also Ctrl-D)
Ctrl-C during a reply stops that reply; it never ends the chat.`;

const USAGE = `Usage: wgllama chat [MODEL] [options]

An interactive chat. Replies stream as they are generated; the conversation stays in the
KV cache, so each turn only computes its new tokens. With stdin not a terminal, each line is
one user turn or /command.

${GENERATION_HELP}

${COMMANDS_HELP}

${MODEL_HELP}
`;

/** The chat command. */
export const chat = command({
  name: "chat",
  summary: "chat interactively (streaming, history, /commands)",
  usage: USAGE,
  flags: GENERATION_FLAGS,
  async run({ values, positionals }) {
    const spec = modelArg("chat", positionals);
    const session = await openSession(spec, values, { tokenizerFor: "chat needs one" });
    try {
      return await new Repl(session).loop();
    } finally {
      session.close();
    }
  },
});

class Repl {
  readonly #s: Session;
  readonly #interactive = Deno.stdin.isTerminal();
  #messages: ChatMessage[] = [];
  /** Without a chat template: the ids of the text so far (prompts and replies, as generated). */
  #text: number[] = [];
  #last: GenerateResult | undefined;
  #reply: AbortController | undefined;

  constructor(session: Session) {
    this.#s = session;
    this.#reset();
    if (!session.template) {
      err(
        "wgllama: note: the model has no chat template: each line continues the text (a completion REPL; /reset starts a new text)",
      );
      if (session.system !== undefined) {
        err("wgllama: warning: --system is ignored: the model has no chat template");
      }
    }
  }

  async loop(): Promise<number> {
    // Ctrl-C stops a reply; it never ends the chat (a second press must not lose the history).
    const onSigint = () =>
      this.#reply ? this.#reply.abort() : err("\n(Ctrl-C stops a reply; /exit or Ctrl-D leaves)");
    Deno.addSignalListener("SIGINT", onSigint);
    const lines = stdinLines();
    try {
      if (this.#interactive) {
        err(
          `wgllama: chatting with ${this.#s.model.config.numHiddenLayers}-layer model; /help for commands`,
        );
      }
      while (true) {
        if (this.#interactive) out("> ");
        const next = await lines.next();
        if (next.done) break; // end of input (Ctrl-D)
        const line = next.value.trim();
        if (line === "") continue;
        if (line.startsWith("/")) {
          if (!this.#command(line)) break;
        } else await this.#turn(line);
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
    }
    if (this.#interactive) out("\n");
    return 0;
  }

  async #turn(text: string): Promise<void> {
    const s = this.#s;
    this.#messages.push({ role: "user", content: text });
    let prompt: number[];
    try {
      prompt = this.#fit();
    } catch (e) {
      this.#messages.pop();
      if (e instanceof InputError) return err(`wgllama: error: ${e.message}`);
      throw e;
    }
    this.#reply = new AbortController();
    try {
      this.#last = await generate(s.model, prompt, {
        sampling: s.sampling,
        maxTokens: s.maxTokens,
        terminators: s.terminators,
        stop: s.stop,
        decode: s.decode,
        signal: this.#reply.signal,
        onText: out,
      });
    } catch (e) {
      this.#messages.pop();
      if (e instanceof InputError) return err(`wgllama: error: ${e.message}`);
      throw e;
    } finally {
      this.#reply = undefined;
    }
    out("\n");
    this.#messages.push({ role: "assistant", content: this.#last.text });
    this.#text = [...prompt, ...this.#last.tokens];
    if (this.#last.finishReason === "interrupted") err("wgllama: reply stopped");
    if (this.#last.contextFull) {
      err(
        `wgllama: note: the reply stopped at the end of the context (${s.model.contextLength} tokens); the oldest turns make room for the next`,
      );
    }
  }

  /**
   * The prompt of this turn, leaving room for a reply (its --max-tokens, at most half the
   * context): a conversation that outgrew the context loses its oldest turns (never the system
   * message), and says so. Only a turn that cannot fit even alone is refused.
   */
  #fit(): number[] {
    const ctx = this.#s.model.contextLength;
    const room = Math.min(this.#s.maxTokens, Math.floor(ctx / 2));
    let prompt = this.#encode();
    let dropped = 0;
    while (prompt.length + room > ctx && this.#dropOldest(ctx - room)) {
      dropped++;
      prompt = this.#encode();
    }
    if (prompt.length >= ctx) {
      throw new InputError(
        `the message makes a prompt of ${prompt.length} tokens: the context holds ${ctx} (raise --ctx); not sent`,
      );
    }
    if (dropped) {
      err(
        `wgllama: note: the conversation outgrew the context (${ctx} tokens): the oldest ${
          this.#s.template ? `${dropped} turn${dropped === 1 ? "" : "s"}` : "text"
        } dropped`,
      );
    }
    return prompt;
  }

  /**
   * Drops the oldest turn (a user message and its reply) before the current one; without a
   * template, the oldest text so that the rest fits `budget` tokens. False when nothing is left.
   */
  #dropOldest(budget: number): boolean {
    if (!this.#s.template) {
      const line = this.#encode().length - this.#text.length;
      const keep = budget - line - 1; // and BOS
      if (this.#text.length === 0 || keep >= this.#text.length - 1) return false;
      const bos = this.#text[0]!;
      this.#text = keep > 0 ? [bos, ...this.#text.slice(this.#text.length - keep)] : [];
      return true;
    }
    const first = this.#messages.findIndex((m) => m.role !== "system");
    if (first < 0 || first === this.#messages.length - 1) return false;
    const turn = this.#messages[first + 1]?.role === "assistant" &&
        first + 1 < this.#messages.length - 1
      ? 2
      : 1;
    this.#messages.splice(first, turn);
    return true;
  }

  /**
   * The prompt of this turn. With a template, the whole conversation rendered. Without, the ids
   * of the text so far as the model saw and wrote them, then the new line after a newline: the
   * cache then holds a prefix of every next prompt, and only the new line is prefilled.
   */
  #encode(): number[] {
    if (this.#s.template) return promptIds(this.#s, { messages: this.#messages });
    const line = this.#messages.at(-1)!.content;
    if (this.#text.length === 0) return promptIds(this.#s, { text: line });
    return [...this.#text, ...this.#s.tokenizer!.encodeContinuation("\n" + line)];
  }

  /** Runs a /command; false means leave. */
  #command(line: string): boolean {
    const [name, ...rest] = line.split(/\s+/);
    const arg = line.slice(name!.length).trim();
    try {
      switch (name) {
        case "/exit":
        case "/quit":
          return false;
        case "/help":
          out(COMMANDS_HELP + "\n");
          break;
        case "/reset":
          this.#reset();
          out("(conversation reset)\n");
          break;
        case "/system":
          if (!this.#s.template) {
            err("wgllama: warning: /system is ignored: the model has no chat template");
            break;
          }
          this.#s.system = arg || undefined;
          this.#reset();
          out("(system message set; conversation reset)\n");
          break;
        case "/set":
          this.#set(rest[0], rest[1]);
          break;
        case "/stats":
          out(this.#stats() + "\n");
          break;
        case "/save":
          if (!arg) throw new UsageError("/save needs a FILE");
          if (!mayReplace(arg, isConversation)) {
            throw new InputError(
              `${arg} exists and is not a saved conversation: not overwritten (choose another name)`,
            );
          }
          writeFileText(arg, JSON.stringify(this.#messages, null, 2) + "\n");
          out(`(saved ${this.#messages.length} messages to ${arg})\n`);
          break;
        default:
          throw new UsageError(`unknown command ${name} (/help lists them)`);
      }
    } catch (e) {
      if (e instanceof UsageError) err(`wgllama: ${e.message}`);
      else if (e instanceof Error) err(`wgllama: error: ${e.message}`);
      else throw e;
    }
    return true;
  }

  /** `/set KEY VALUE`: a request setting, checked by the request's own table. */
  #set(key: string | undefined, value: string | undefined): void {
    const keys = [
      "temperature",
      "top_p",
      "top_k",
      "min_p",
      "repetition_penalty",
      "max_tokens",
      "seed",
    ];
    if (!key || value === undefined) {
      throw new UsageError("/set needs KEY VALUE (/help lists the keys)");
    }
    if (!keys.includes(key)) {
      throw new UsageError(`/set: unknown key "${key}" (${keys.join(", ")})`);
    }
    let set;
    try {
      set = parseSettings({ [key]: value });
    } catch (e) {
      if (e instanceof FieldError) {
        throw new UsageError(`/set ${key} ${value}: expected ${e.expected}`);
      }
      throw e;
    }
    const { maxTokens, stop: _, ...sampling } = set;
    if (maxTokens !== undefined) this.#s.maxTokens = maxTokens;
    this.#s.sampling = mergeSampling(this.#s.sampling, sampling);
    out(`(${key} = ${value})\n`);
  }

  #stats(): string {
    const m = this.#s.model;
    const context = `context ${m.tokens.length}/${m.contextLength} tokens`;
    const r = this.#last;
    if (!r) return `no reply yet; ${context}`;
    return `last reply: ${r.tokens.length} tokens (${r.finishReason}); prefill ${r.prefillTokens} of ${r.promptTokens} prompt tokens ` +
      `at ${r.timings.prefillTokensPerSecond.toFixed(1)} tokens/s; decode ${
        r.timings.decodeTokensPerSecond.toFixed(1)
      } tokens/s; ${context}`;
  }

  #reset(): void {
    this.#messages = this.#s.system !== undefined
      ? [{ role: "system", content: this.#s.system }]
      : [];
    this.#last = undefined;
    this.#text = [];
    this.#s.model.reset();
  }
}

/** Whether a file's text is a conversation /save wrote: a JSON list of {role, content}. */
function isConversation(text: string): boolean {
  try {
    const saved = JSON.parse(text);
    return Array.isArray(saved) &&
      saved.every((m) => typeof m?.role === "string" && typeof m?.content === "string");
  } catch {
    return false;
  }
}
