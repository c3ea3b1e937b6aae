/**
 * `tokenizer.json` through `@huggingface/tokenizers`: encoding where special-token text is plain
 * text unless asked otherwise, decoding, and the ids that matter to generation.
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { InputError } from "../errors.ts";

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

/** Options of {@linkcode TextTokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend the BOS token (unless the text already starts with it). @default false */
  bos?: boolean;
  /** Match special-token text (e.g. `<|eot_id|>`) as the control token. @default false */
  special?: boolean;
  /**
   * Add the special tokens `tokenizer.json`'s post-processor adds, as Hugging Face's
   * `tokenizer(text)` does (BOS on Llama tokenizers that add it). @default false
   */
  postProcess?: boolean;
}

const ANCHOR = "\n";

/** A model's tokenizer. */
export class TextTokenizer {
  readonly #json: Record<string, unknown>;
  readonly #config: Record<string, unknown>;
  readonly #tokenizer: Tokenizer;
  #plain: Tokenizer | undefined;
  /** Special added tokens: text → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The BOS id (from tokenizer_config.json's bos_token), if any. */
  readonly bosTokenId: number | undefined;
  /** The EOS id (from tokenizer_config.json's eos_token), if any. */
  readonly eosTokenId: number | undefined;

  private constructor(
    json: Record<string, unknown>,
    config: Record<string, unknown>,
    path: string,
  ) {
    json = asTransformersReads(json, config);
    this.#json = json;
    this.#config = config;
    try {
      this.#tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new InputError(`Cannot load ${path}: ${e instanceof Error ? e.message : e}`);
    }
    const added = (json.added_tokens ?? []) as AddedTokenJson[];
    this.specialTokens = new Map(added.filter((t) => t.special).map((t) => [t.content, t.id]));
    this.bosTokenId = this.#idOf(config.bos_token);
    this.eosTokenId = this.#idOf(config.eos_token);
  }

  /** Loads `dir/tokenizer.json` (+ `tokenizer_config.json`); undefined when the folder has none. */
  static load(dir: string): TextTokenizer | undefined {
    const path = `${dir}/tokenizer.json`;
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw new InputError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
    }
    const json = parseObject(text, path);
    const configPath = `${dir}/tokenizer_config.json`;
    let config: Record<string, unknown> = {};
    try {
      config = parseObject(Deno.readTextFileSync(configPath), configPath);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return new TextTokenizer(json, config, path);
  }

  /** tokenizer.json as read (its normalizer, decoder, …). */
  get json(): Readonly<Record<string, unknown>> {
    return this.#json;
  }

  /** tokenizer_config.json as parsed (chat_template, bos_token, …). */
  get config(): Readonly<Record<string, unknown>> {
    return this.#config;
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const parseSpecial = options.special ||
      ![...this.specialTokens.keys()].some((s) => text.includes(s));
    const ids = (parseSpecial ? this.#tokenizer : this.#plainTokenizer()).encode(text, {
      add_special_tokens: options.postProcess ?? false,
    }).ids;
    if (options.bos && this.bosTokenId !== undefined && ids[0] !== this.bosTokenId) {
      ids.unshift(this.bosTokenId);
    }
    return ids;
  }

  /**
   * Ids of `text` as it continues earlier text: a SentencePiece normalizer prepends "▁" to every
   * text it encodes, which is right at the start of a text and wrong in its middle. The text is
   * encoded after an anchor ("\n", which such vocabularies keep as a byte of its own) whose ids
   * are then dropped; where the anchor merges with the text (byte-level BPE, which prepends
   * nothing), the text is encoded alone.
   */
  encodeContinuation(text: string): number[] {
    const anchor = this.encode(ANCHOR);
    const both = this.encode(ANCHOR + text);
    const prefixed = both.length > anchor.length && anchor.every((id, i) => both[i] === id);
    return prefixed ? both.slice(anchor.length) : this.encode(text);
  }

  /** Text of `ids` (special tokens included unless `skipSpecial`). */
  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return "";
    return this.#tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecial ?? false });
  }

  /** The id of one token's text, if it is in the vocabulary. */
  tokenId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token);
  }

  /** The text of one token id. */
  tokenText(id: number): string | undefined {
    return this.#tokenizer.id_to_token(id);
  }

  /**
   * The bytes one token stands for (what OpenAI's logprobs report as `bytes`): a byte-level
   * vocabulary's characters mapped back to their bytes, a SentencePiece byte token (`<0xE2>`) its
   * byte, any other piece its UTF-8 with "▁" as a space.
   */
  tokenBytes(id: number): Uint8Array {
    const piece = this.#tokenizer.id_to_token(id) ?? "";
    if (this.#byteLevel) {
      const bytes = [...piece].map((c) => BYTE_OF_CHAR.get(c));
      if (bytes.every((b) => b !== undefined)) return Uint8Array.from(bytes as number[]);
    }
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (byte) return Uint8Array.of(parseInt(byte[1]!, 16));
    return new TextEncoder().encode(piece.replaceAll("▁", " "));
  }

  /** Whether pieces are byte-level (GPT-2's printable characters for bytes), as Llama 3's are. */
  get #byteLevel(): boolean {
    const decoder = this.#json.decoder as { type?: string; decoders?: { type?: string }[] } | null;
    return decoder?.type === "ByteLevel" ||
      (decoder?.decoders ?? []).some((d) => d?.type === "ByteLevel");
  }

  /** A tokenizer that treats special-token text as text; built only when such text occurs. */
  #plainTokenizer(): Tokenizer {
    const added = (this.#json.added_tokens ?? []) as AddedTokenJson[];
    return this.#plain ??= new Tokenizer({
      ...this.#json,
      added_tokens: added.filter((t) => !t.special),
    }, this.#config);
  }

  #idOf(token: unknown): number | undefined {
    const text = typeof token === "string"
      ? token
      : (token as { content?: string } | null)?.content;
    return text === undefined ? undefined : this.#tokenizer.token_to_id(text);
  }
}

/**
 * tokenizer.json as transformers reads it. A Llama tokenizer with `legacy: false` gets Metaspace
 * ("▁" before the text's start only) in place of a normalizer that prepends "▁" to every piece
 * between special tokens: so text after `</s>` in a chat template encodes as transformers'
 * apply_chat_template encodes it (the tokenizers library alone would add a "▁").
 */
function asTransformersReads(
  json: Record<string, unknown>,
  config: Record<string, unknown>,
): Record<string, unknown> {
  const n = json.normalizer as {
    type?: string;
    normalizers?: { type?: string; prepend?: string }[];
  };
  const prepends = n?.type === "Sequence" &&
    (n.normalizers ?? []).some((x) => x?.type === "Prepend" && x.prepend === "▁");
  if (
    config.legacy !== false || !/^LlamaTokenizer/.test(String(config.tokenizer_class)) || !prepends
  ) {
    return json;
  }
  return {
    ...json,
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
  };
}

function parseObject(text: string, path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError(`Cannot parse ${path}: not valid JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InputError(`Cannot load ${path}: expected a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** GPT-2's byte-level alphabet backwards: the character that stands for each byte → the byte. */
const BYTE_OF_CHAR: ReadonlyMap<string, number> = (() => {
  const map = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    map.set(String.fromCodePoint(printable ? b : next++), b);
  }
  return map;
})();
