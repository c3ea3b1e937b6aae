/**
 * Command-line parsing on `node:util` `parseArgs`, with every mistake turned into a
 * {@linkcode UsageError}, and the shape every command shares.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";
import { defaultModel } from "../io/hf_folder.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** A command's arguments, parsed: the flags' values and the positionals. */
export type Parsed<O extends Options> = ReturnType<typeof parse<O>>;

/** A subcommand of `wgllama`; the CLI parses its flags (and answers `--help`) before `run`. */
export interface Command<O extends Options = Options> {
  readonly name: string;
  readonly summary: string;
  /** Full `--help` text. */
  readonly usage: string;
  /** Its flags; every command also takes `--help` and `--debug`. */
  readonly flags: O;
  run(parsed: Parsed<O>): Promise<number>;
}

/** A command, its `run` typed by its flags. */
export function command<O extends Options>(spec: Command<O>): Command<O> {
  return spec;
}

/** Parses `args` strictly; `--help` is always accepted. */
export function parse<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" }, debug: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new UsageError(`${command}: ${msg} (see wgllama ${command} --help)`);
  }
}

/** Parses an integer flag value within [min, max]. */
export function intFlag(
  flag: string,
  value: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} is "${value}": expected an integer from ${min} to ${max}`);
  }
  return n;
}

/** The optional MODEL argument: absent, `$WGLLAMA_MODEL`, else the built-in model. */
export function modelArg(command: string, positionals: string[]): string {
  if (positionals.length > 1) {
    throw new UsageError(
      `${command}: expected at most one MODEL argument, got ${positionals.length} (see wgllama ${command} --help)`,
    );
  }
  return positionals[0] ?? defaultModel();
}

/** How MODEL is found, for every command's --help. */
export const MODEL_HELP =
  `MODEL is, first match wins: a folder; an org/name in the local Hugging Face cache
($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub); "stories-260k", the built-in
model (a 260K-parameter story writer). Omitted, it is $WGLLAMA_MODEL, else the built-in model.`;

/** Parses a comma-separated list of token ids. */
export function idListFlag(flag: string, value: string): number[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--${flag} is "${value}": expected comma-separated non-negative integers`);
  }
  return parts.map(Number);
}

/** Parses a number flag value within [min, max]. */
export function numberFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} is "${value}": expected a number from ${min} to ${max}`);
  }
  return n;
}
