/**
 * Structured output: which tokens can continue a JSON document (any object, or one valid against
 * a JSON schema), as a bit mask per step, by XGrammar's WebAssembly build (npm
 * `@mlc-ai/web-xgrammar`, Apache-2.0): its matcher walks the grammar as tokens are drawn and
 * gives the next mask in well under a millisecond for a 128k vocabulary. The sample kernels apply
 * the mask on the GPU.
 * @module
 */
import { InputError } from "../errors.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/** A reply's format: any JSON object, or JSON valid against a schema. */
export type JsonFormat = { type: "json_object" } | { type: "json_schema"; schema: unknown };

/** One reply's walk through its grammar. */
export interface JsonMatcher {
  /** Bit i of word i >> 5 set: token i may come next (a stop token once the document is done). */
  allowed(): Promise<Uint32Array<ArrayBuffer>>;
  /** Moves past a drawn token; false if it cannot continue the document. */
  accept(id: number): boolean;
  /** Frees the matcher's WebAssembly memory. */
  dispose(): void;
}

/** A compiled format: a new matcher per reply. */
export interface JsonGrammar {
  matcher(): Promise<JsonMatcher>;
}

// The few parts of XGrammar's API used here.
interface Disposable {
  dispose(): void;
}
interface Matcher extends Disposable {
  getNextTokenBitmask(): Promise<Int32Array>;
  acceptToken(id: number): boolean;
}
interface Compiler extends Disposable {
  compileJSONSchema(
    schema: string,
    anyWhitespace?: boolean,
    indent?: number,
    separators?: [string, string],
    strictMode?: boolean,
  ): Promise<Disposable>;
}
interface XGrammar {
  Grammar: { builtinJSONGrammar(): Promise<Disposable> };
  TokenizerInfo: {
    createTokenizerInfo(
      vocab: string[],
      vocabType: string,
      prependSpace: boolean,
      vocabSize: number,
      stopTokenIds: number[],
    ): Promise<Disposable>;
  };
  GrammarCompiler: { createGrammarCompiler(info: Disposable): Promise<Compiler> };
  GrammarMatcher: { createGrammarMatcher(compiled: Disposable): Promise<Matcher> };
}

let library: Promise<XGrammar> | undefined;

/**
 * The library, loaded at first use. Its bundle is a UMD script that puts its exports on
 * `globalThis.xgrammar` and reads `location` while loading and starting (Deno has none unless
 * given one): one is lent for that time.
 */
function xgrammar(): Promise<XGrammar> {
  return library ??= (async () => {
    const g = globalThis as { location?: unknown; xgrammar?: XGrammar };
    const had = Object.getOwnPropertyDescriptor(globalThis, "location");
    Object.defineProperty(globalThis, "location", {
      value: { href: "file:///xgrammar/index.js" },
      configurable: true,
    });
    try {
      await import("@mlc-ai/web-xgrammar");
      // Its WebAssembly starts at the first call, reading `location` again: start it now.
      await g.xgrammar?.Grammar.builtinJSONGrammar();
    } finally {
      if (had) Object.defineProperty(globalThis, "location", had);
      else delete g.location;
    }
    if (!g.xgrammar) throw new Error("@mlc-ai/web-xgrammar did not load");
    return g.xgrammar;
  })();
}

/** Compilers by tokenizer, and the tokens free of control bytes: the vocabulary is read once. */
const compilers = new WeakMap<TextTokenizer, Promise<{ compiler: Compiler; plain: Uint32Array }>>();

/** XGrammar's name for how a vocabulary spells bytes. */
function vocabType(tokenizer: TextTokenizer): string {
  const decoder = tokenizer.json.decoder as { type?: string; decoders?: { type?: string }[] };
  const types = [decoder?.type, ...(decoder?.decoders ?? []).map((d) => d?.type)];
  return types.includes("ByteLevel")
    ? "BYTE_LEVEL"
    : types.includes("ByteFallback")
    ? "BYTE_FALLBACK"
    : "RAW";
}

/** Whether the tokenizer puts "▁" before a text (SentencePiece's prepended space). */
function prependsSpace(tokenizer: TextTokenizer): boolean {
  const text = JSON.stringify([tokenizer.json.normalizer, tokenizer.json.pre_tokenizer]);
  return /"Prepend"|"prepend_scheme":"(first|always)"|"add_prefix_space":true/.test(text) &&
    text.includes("▁");
}

function compiler(
  tokenizer: TextTokenizer,
  vocabSize: number,
  stops: readonly number[],
): Promise<{ compiler: Compiler; plain: Uint32Array }> {
  let c = compilers.get(tokenizer);
  if (!c) {
    c = (async () => {
      const x = await xgrammar();
      // Special tokens spell no text: the grammar never asks for them (stops end the document).
      const special = new Set(tokenizer.specialTokens.values());
      const vocab = Array.from(
        { length: vocabSize },
        (_, id) => special.has(id) ? "" : tokenizer.tokenText(id) ?? "",
      );
      const info = await x.TokenizerInfo.createTokenizerInfo(
        vocab,
        vocabType(tokenizer),
        prependsSpace(tokenizer),
        vocabSize,
        [...stops],
      );
      // XGrammar's strings take a raw tab (and other control bytes) that JSON forbids unescaped;
      // compact JSON has no place for one, so tokens holding one are never allowed.
      const plain = new Uint32Array(Math.ceil(vocabSize / 32));
      for (let id = 0; id < vocabSize; id++) {
        const bytes = special.has(id) ? [] : tokenizer.tokenBytes(id);
        if (!bytes.some((b) => b < 0x20)) plain[id >>> 5]! |= 1 << (id & 31);
      }
      return { compiler: await x.GrammarCompiler.createGrammarCompiler(info), plain };
    })();
    compilers.set(tokenizer, c);
  }
  return c;
}

/**
 * Compiles `format` for a model's vocabulary, ended by `stops` (the model's terminators). A
 * schema the library cannot compile is an InputError with its reason.
 */
export async function compileJson(
  tokenizer: TextTokenizer,
  vocabSize: number,
  stops: readonly number[],
  format: JsonFormat,
): Promise<JsonGrammar> {
  const { compiler: c, plain } = await compiler(tokenizer, vocabSize, stops);
  const schema = format.type === "json_object" ? { type: "object" } : format.schema;
  let compiled: Disposable;
  try {
    // Compact JSON (no free whitespace: a small model cannot wander in blanks); strict: no
    // properties or items the schema does not name.
    compiled = await c.compileJSONSchema(JSON.stringify(schema), false, -1, [",", ":"], true);
  } catch (e) {
    throw new InputError(
      `the JSON schema cannot be compiled: ${e instanceof Error ? e.message : e}`,
    );
  }
  const x = await xgrammar();
  return {
    async matcher() {
      const m = await x.GrammarMatcher.createGrammarMatcher(compiled);
      return {
        allowed: async () => {
          const mask = await m.getNextTokenBitmask();
          return Uint32Array.from(mask, (word, i) => word & plain[i]!);
        },
        accept: (id) => m.acceptToken(id),
        dispose: () => m.dispose(),
      };
    },
  };
}
