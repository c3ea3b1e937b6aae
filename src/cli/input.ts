/** What the CLI reads from standard input (files: src/io/user_file.ts). */
import { decodeUtf8 } from "../io/user_file.ts";

/** All of standard input. */
export async function readStdinBytes(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

/** Lines of stdin as they arrive. */
export async function* stdinLines(): AsyncGenerator<string> {
  let pending = new Uint8Array(0);
  let line = 0;
  // Text the user did not write must never be answered: a line that is not UTF-8 ends the chat.
  const text = (bytes: Uint8Array) => {
    line++;
    return decodeUtf8(bytes, "standard input", line).replace(/\r$/, "");
  };
  for await (const chunk of Deno.stdin.readable) {
    const joined = new Uint8Array(pending.length + chunk.length);
    joined.set(pending);
    joined.set(chunk, pending.length);
    let start = 0;
    for (let nl = joined.indexOf(0x0a); nl >= 0; nl = joined.indexOf(0x0a, start)) {
      yield text(joined.subarray(start, nl));
      start = nl + 1;
    }
    pending = joined.slice(start);
  }
  if (pending.length) yield text(pending);
}
