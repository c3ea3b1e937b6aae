/** `wgllama <command> [options]`: dispatch, help, and the single place errors become exit codes. */
import { describeError, EXIT, UsageError } from "../errors.ts";
import { type Command, parse } from "./args.ts";
import { batch } from "./batch.ts";
import { bench } from "./bench.ts";
import { chat } from "./chat.ts";
import { compare } from "./compare.ts";
import { gpu } from "./gpu.ts";
import { init } from "./init.ts";
import { inspect } from "./inspect.ts";
import { logits } from "./logits.ts";
import { merge } from "./merge.ts";
import { perplexity } from "./perplexity.ts";
import { run } from "./run.ts";
import { serve } from "./serve.ts";
import { train } from "./train.ts";
import { detokenize, tokenize } from "./tokenize.ts";
import { err, out } from "./output.ts";

const COMMANDS: readonly Command[] = [
  chat,
  run,
  batch,
  inspect,
  tokenize,
  detokenize,
  gpu,
  logits,
  perplexity,
  bench,
  compare,
  train,
  init,
  merge,
  serve,
];

function mainUsage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: wgllama <command> [options]

Runs Llama-architecture models from a Hugging Face folder with WebGPU compute kernels.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")}

Every command takes --help. --debug shows stack traces of internal errors.
`;
}

/** Runs the CLI on `args` and returns the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  try {
    const [name, ...rest] = args;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      out(mainUsage());
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (see wgllama --help)`);
    const parsed = parse(command.name, rest, command.flags);
    if (parsed.values.help) return (out(command.usage), EXIT.ok);
    return await command.run(parsed);
  } catch (e) {
    // The reader of stdout went away (`| head`): nothing more to say to anyone.
    if (e instanceof Deno.errors.BrokenPipe) return EXIT.ok;
    const { line, code } = describeError(e, debug);
    err(line);
    return code;
  }
}
