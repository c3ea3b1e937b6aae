/**
 * Token ids → text deltas that are safe to print: a character whose UTF-8 bytes span several
 * tokens is held back until complete, so no U+FFFD is printed for valid output. Decodes a small
 * window (prefix/read offsets) so the cost per token stays constant.
 * @module
 */

/** Decodes ids to text (a tokenizer's decode). */
export type Decode = (ids: readonly number[]) => string;

/** Incremental detokenizer. */
export class TextStream {
  readonly #decode: Decode;
  readonly #ids: number[] = [];
  #prefix = 0; // start of the decode window
  #read = 0; // tokens whose text has been emitted

  /**
   * `context`: the tokens just before the stream (the prompt's tail). Text is decoded in their
   * context, so a continuation keeps the leading space a SentencePiece decoder strips from the
   * start of a text ("Tom had a" + " big box", not "big box").
   */
  constructor(decode: Decode, context: readonly number[] = []) {
    this.#decode = decode;
    this.#ids.push(...context);
    this.#read = context.length;
  }

  /** Adds a token and returns the text it completes ("" while a character is incomplete). */
  push(id: number): string {
    this.#ids.push(id);
    const before = this.#decode(this.#ids.slice(this.#prefix, this.#read));
    const after = this.#decode(this.#ids.slice(this.#prefix));
    if (after.length <= before.length || after.endsWith("\uFFFD")) return "";
    this.#prefix = this.#read;
    this.#read = this.#ids.length;
    return after.slice(before.length);
  }

  /** The text still held back (an incomplete character at the very end), emitted as is. */
  flush(): string {
    const before = this.#decode(this.#ids.slice(this.#prefix, this.#read));
    const after = this.#decode(this.#ids.slice(this.#prefix));
    this.#prefix = this.#read = this.#ids.length;
    return after.slice(before.length);
  }
}
