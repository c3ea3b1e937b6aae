/** `tiny-llama3-vocab` with Meta's Llama 3.1 chat template (which takes tools), in a temp folder. */
import { tempDir } from "./_temp.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** A folder whose files link to tiny-llama3-vocab's, with chat_template.jinja = Llama 3.1's. */
export function toolModel(): string {
  const dir = tempDir();
  for (const entry of Deno.readDirSync(`${FIXTURES}tiny-llama3-vocab`)) {
    if (entry.isFile) {
      Deno.symlinkSync(`${FIXTURES}tiny-llama3-vocab/${entry.name}`, `${dir}/${entry.name}`);
    }
  }
  Deno.copyFileSync(`${FIXTURES}llama-3.1-chat-template.jinja`, `${dir}/chat_template.jinja`);
  return dir;
}
