/**
 * The generation flags every generating command shares, turned into a session's options: the
 * request's own table checks them, and the session merges them over generation_config.json.
 * @module
 */
import { UsageError } from "../errors.ts";
import type { PackFormat } from "../gpu/buffers.ts";
import { FieldError, parseSettings } from "../generate/request.ts";
import { openSession as openLibrarySession, type Session } from "../generate/session.ts";
import { intFlag } from "./args.ts";
import { err } from "./output.ts";
import { progressBar } from "./progress.ts";

/** parseArgs options of the flags that shape generation. */
export const GENERATION_FLAGS = {
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string" },
  "top-k": { type: "string" },
  "min-p": { type: "string" },
  "repetition-penalty": { type: "string" },
  seed: { type: "string" },
  stop: { type: "string", multiple: true },
  system: { type: "string" },
  ctx: { type: "string" },
  weights: { type: "string" },
  adapter: { type: "string" },
} as const;

/** `--weights`: as stored (undefined), rounded to bf16, or quantized at load. */
export function weightsFlag(value: string | undefined): PackFormat | undefined {
  if (["bf16", "q8", "q5", "q4", undefined].includes(value)) return value as PackFormat | undefined;
  throw new UsageError(`--weights is "${value}": expected bf16, q8, q5 or q4`);
}

/** Help text for {@linkcode GENERATION_FLAGS}. */
export const GENERATION_HELP = `  --system TEXT            system message (chat template)
  --max-tokens N           most new tokens per reply (default 256)
  --temperature T          0 = greedy (default: generation_config.json, else greedy)
  --top-p P, --top-k K     nucleus / top-k filtering (default: generation_config.json; top-k 50 when sampling)
  --min-p P                drop tokens below P × the top probability (default 0 = off)
  --repetition-penalty R   penalise tokens already in the context (default 1 = off)
  --seed S                 seed of the draws: the same seed reproduces a run (default: random)
  --stop STR               stop when the text contains STR (repeatable; STR not printed)
  --ctx N                  context length in tokens (default: min(max_position_embeddings, 4096))
  --weights F              bf16 | q8 | q5 | q4: round (bf16) or quantize the matrices on the GPU while loading
                           (default: as stored)
  --adapter DIR            a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors), merged
                           into the weights at load (W + alpha/r·B·A; targeted matrices then f32 unless
                           --weights packs them)`;

type FlagValues = {
  [K in keyof typeof GENERATION_FLAGS]?: (typeof GENERATION_FLAGS)[K] extends { multiple: true }
    ? string[]
    : string;
};

/**
 * A request's settings from the generation flags, checked by the request's table: a mistake is
 * a usage error naming the flag (`--top-p is "5": expected a number from 0 to 1`).
 */
export function settingsFromFlags(values: FlagValues): ReturnType<typeof parseSettings> {
  const keys = [
    "max-tokens",
    "temperature",
    "top-p",
    "top-k",
    "min-p",
    "repetition-penalty",
    "seed",
    "stop",
  ];
  const settings = Object.fromEntries(
    keys.map((k) => [k, (values as Record<string, string | string[] | undefined>)[k]]),
  );
  try {
    return parseSettings(settings);
  } catch (e) {
    if (!(e instanceof FieldError)) throw e;
    const flag = e.field.replaceAll("_", "-");
    const value = (values as Record<string, unknown>)[flag];
    throw new UsageError(`--${flag} is "${value}": expected ${e.expected}`);
  }
}

/** Opens the session of `spec` with the generation flags applied, its warnings on stderr. */
export async function openSession(
  spec: string,
  values: FlagValues,
  options: { slots?: number; tokenizerFor?: string } = {},
): Promise<Session> {
  // Flag mistakes are usage errors, before any loading.
  const { maxTokens, stop, ...sampling } = settingsFromFlags(values);
  const session = await openLibrarySession(spec, {
    ...options,
    ...(values.ctx !== undefined ? { contextLength: intFlag("ctx", values.ctx, 2) } : {}),
    weights: weightsFlag(values.weights),
    ...(values.adapter !== undefined ? { adapter: values.adapter } : {}),
    sampling,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(stop !== undefined ? { stop } : {}),
    ...(values.system !== undefined ? { system: values.system } : {}),
    onProgress: progressBar("Loading"),
  });
  for (const w of session.warnings) err(`wgllama: warning: ${w}`);
  return session;
}

export type { Session };
