/** What the CLI reads from standard input (files: src/io/user_file.ts). */

/** All of standard input. */
export async function readStdinBytes(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}
