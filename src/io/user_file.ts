/** Reading the user's files: their bytes, and strict UTF-8 text that names where it breaks. */
import { InputError } from "../errors.ts";

/** The bytes of a file the user named; a failure is the user's, in one line. */
export function readBytes(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new InputError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * Strict UTF-8 without a leading byte-order mark, naming the line and byte of the first invalid
 * sequence (`firstLine`: the line number `bytes` start on).
 */
export function decodeUtf8(bytes: Uint8Array, source: string, firstLine = 1): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, at).filter((b) => b === 0x0a).length + firstLine;
    const where = firstLine === 1 ? ` at byte ${at}` : ` at byte ${at} of the line`;
    throw new InputError(`${source}:${line}: invalid UTF-8${where}: expected UTF-8 text`);
  }
}

/** Offset of the first byte of the first invalid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const decodes = (n: number, stream: boolean) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream });
      return true;
    } catch {
      return false;
    }
  };
  let lo = 0;
  let hi = bytes.length; // the prefix [0, lo) decodes as a stream; [0, hi) does not
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (decodes(mid, true)) lo = mid;
    else hi = mid;
  }
  if (decodes(lo, false)) return lo;
  // The prefix ends inside a sequence that the next byte breaks: report where it starts.
  let at = lo;
  while (at > 0 && (bytes[at - 1]! & 0xc0) === 0x80) at--;
  return Math.max(0, at - 1);
}
