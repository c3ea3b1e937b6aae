/**
 * Text from a request, read and measured without stalling the server: the body is read up to a
 * byte limit (413 beyond it, without reading the rest), decoded as strict UTF-8, and a long prompt
 * is counted in chunks, yielding to the event loop between them, so a megabyte prompt neither
 * holds up other clients nor costs more than the context's worth of tokenizing.
 * @module
 */
import type { TextTokenizer } from "../text/tokenizer.ts";
import { ApiError } from "./openai.ts";

/** The body's bytes; 413 once it passes `maxBytes` (the rest is not read). */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError(
      413,
      `The request body is larger than this server's limit of ${maxBytes} bytes (--max-body)`,
      undefined,
      null,
      "request_too_large",
    );
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (body.set(c, at), at += c.length);
  return body;
}

/** The body as JSON: invalid UTF-8 and invalid JSON are 400s. */
export function parseJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new ApiError(400, "The request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, "We could not parse the JSON body of your request");
  }
}

/** Characters tokenized at once while counting. */
const CHUNK = 8192;
/** Tokens a cut between chunks may add (a split word, a SentencePiece "▁"). */
const SLACK_PER_CUT = 2;

/**
 * Whether `text` certainly encodes to more than `limit` tokens, found without tokenizing it whole:
 * chunks of ~8K characters (cut at whitespace) are counted one at a time, yielding between
 * them, and counting stops as soon as the count (less what the cuts may add) passes `limit`.
 * Returns the count so far when it passes, else undefined (the text may fit: encode it then).
 */
export async function exceedsTokens(
  tokenizer: TextTokenizer,
  text: string,
  limit: number,
): Promise<number | undefined> {
  if (text.length <= CHUNK) return undefined;
  let count = 0;
  let cuts = 0;
  for (let at = 0; at < text.length; cuts++) {
    let end = Math.min(text.length, at + CHUNK);
    if (end < text.length) {
      const space = text.lastIndexOf(" ", end);
      if (space > at + CHUNK / 2) end = space;
    }
    count += tokenizer.encode(text.slice(at, end)).length;
    at = end;
    if (count - SLACK_PER_CUT * cuts > limit) return count - SLACK_PER_CUT * cuts;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return undefined;
}
