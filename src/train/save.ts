/**
 * Writing a trained model as a Hugging Face folder that wgllama and transformers load: the
 * source's config (torch_dtype set to the saved type) and generation config, its tokenizer
 * files copied, `model.safetensors` in the chosen type (rounded to nearest even), and — for a
 * checkpoint that resumes exactly — the f32 masters, AdamW moments and trainer state.
 * @module
 */
import { InputError, UsageError } from "../errors.ts";
import { TensorStore } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors_writer.ts";

/** Types a model can be saved in, by their names on the command line. */
export const SAVE_DTYPES = { f32: "F32", bf16: "BF16", f16: "F16" } as const;
/** A saved type's name. */
export type SaveDtype = keyof typeof SAVE_DTYPES;

const TORCH_DTYPE: Record<SaveDtype, string> = { f32: "float32", bf16: "bfloat16", f16: "float16" };

/** A model folder's tokenizer files (those present are copied as they are). */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.model",
  "chat_template.jinja",
];

/** The save type a flag names (`fallback` when it is not given); anything else is refused. */
export function parseSaveDtype(
  flag: string,
  value: string | undefined,
  fallback: SaveDtype,
): SaveDtype {
  if (value === undefined) return fallback;
  if (!Object.hasOwn(SAVE_DTYPES, value)) {
    throw new UsageError(`--${flag} is "${value}": expected f32, bf16 or f16`);
  }
  return value as SaveDtype;
}

/** The save type of a config's torch_dtype (f32 when absent or unknown). */
export function saveDtypeOf(torchDtype: string | null): SaveDtype {
  return torchDtype === "bfloat16" ? "bf16" : torchDtype === "float16" ? "f16" : "f32";
}

/** Copies the files of `names` that `from` has into `dir` (nothing when they are one folder). */
export function copyModelFiles(from: string, dir: string, names: readonly string[]): void {
  if (Deno.realPathSync(dir) === Deno.realPathSync(from)) return;
  for (const f of names) {
    try {
      Deno.copyFileSync(`${from}/${f}`, `${dir}/${f}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/** Writes config.json: the given config with torch_dtype set to `dtype`'s. */
export function writeModelConfig(dir: string, config: Record<string, unknown>, dtype: SaveDtype) {
  const { torch_dtype: _, dtype: __, ...rest } = config;
  writeJsonAtomic(`${dir}/config.json`, { ...rest, torch_dtype: TORCH_DTYPE[dtype] });
}

/** The header metadata transformers' `save_pretrained` writes (and its loader checks). */
export const HF_METADATA = { format: "pt" };

/** The optimizer state and trainer state files of a resumable checkpoint. */
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const STATE_FILE = "trainer_state.json";

/** f32 values as the bytes of `dtype` (bf16 and f16 rounded to nearest even). */
export function encodeAs(values: Float32Array, dtype: SaveDtype): Uint8Array {
  if (dtype === "f32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === "f16") return new Uint8Array(Float16Array.from(values).buffer);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    // NaN stays a (quiet) NaN; others round half to even on the dropped 16 bits.
    out[i] = (b & 0x7fffffff) > 0x7f800000
      ? (b >>> 16) | 0x40
      : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

/**
 * Writes `tensors` (HF names, in the given order, with shapes) as a model folder `dir`, copying
 * what else the source folder `from` holds; `config` is the source's config.json object.
 */
export function saveModelFolder(
  dir: string,
  from: string,
  config: Record<string, unknown>,
  tensors: readonly { name: string; shape: number[]; data: Float32Array }[],
  dtype: SaveDtype,
): void {
  try {
    Deno.mkdirSync(dir, { recursive: true });
    copyModelFiles(from, dir, ["generation_config.json", ...TOKENIZER_FILES]);
    writeModelConfig(dir, config, dtype);
    const entries = tensors.map((t) => ({
      name: t.name,
      dtype: SAVE_DTYPES[dtype],
      shape: t.shape,
    }));
    const byName = new Map(tensors.map((t) => [t.name, t.data]));
    writeFileAtomic(
      `${dir}/model.safetensors`,
      (path) =>
        writeSafetensors(
          path,
          entries,
          (e, write) => write(encodeAs(byName.get(e.name)!, dtype)),
          HF_METADATA,
        ),
    );
  } catch (e) {
    throw writeError(e, dir);
  }
}

/** Writes the optimizer state (f32 tensors) and trainer state of a resumable checkpoint. */
export function saveTrainingState(
  dir: string,
  optimizer: ReadonlyMap<string, { shape: number[]; data: Float32Array }>,
  state: Record<string, unknown>,
): void {
  try {
    const entries = [...optimizer].map(([name, t]) => ({ name, dtype: "F32", shape: t.shape }));
    writeFileAtomic(
      `${dir}/${OPTIMIZER_FILE}`,
      (path) =>
        writeSafetensors(
          path,
          entries,
          (e, write) => write(encodeAs(optimizer.get(e.name)!.data, "f32")),
        ),
    );
    writeJsonAtomic(`${dir}/${STATE_FILE}`, state);
  } catch (e) {
    throw writeError(e, dir);
  }
}

/** The optimizer tensors and trainer state of a checkpoint folder written by {@linkcode saveTrainingState}. */
export function readTrainingState(
  dir: string,
): { optimizer: Map<string, Float32Array<ArrayBuffer>>; state: Record<string, unknown> } {
  let state: unknown;
  try {
    state = JSON.parse(Deno.readTextFileSync(`${dir}/${STATE_FILE}`));
  } catch {
    throw new InputError(
      `--resume ${dir}: no readable ${STATE_FILE}: expected a folder written by wgllama train`,
    );
  }
  if (typeof state !== "object" || state === null) {
    throw new InputError(`${dir}/${STATE_FILE}: expected a JSON object`);
  }
  const store = TensorStore.openFile(`${dir}/${OPTIMIZER_FILE}`, { read: true });
  try {
    const optimizer = new Map<string, Float32Array<ArrayBuffer>>();
    for (const [name, t] of store.tensors) {
      if (t.dtype !== "F32") throw new InputError(`${dir}/${OPTIMIZER_FILE}: ${name} is not F32`);
      optimizer.set(name, new Float32Array(store.bytes(t).slice().buffer));
    }
    return { optimizer, state: state as Record<string, unknown> };
  } finally {
    store.close();
  }
}

/** Writes through a temporary file renamed into place, so an interrupted save never leaves half a file. */
function writeFileAtomic(path: string, write: (tmp: string) => void): void {
  const tmp = `${path}.tmp`;
  write(tmp);
  Deno.renameSync(tmp, path);
}

function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(
    path,
    (tmp) => Deno.writeTextFileSync(tmp, JSON.stringify(value, null, 2) + "\n"),
  );
}

/** A failure to write `dir` as the user's error, in one line (others pass through). */
export function writeError(e: unknown, dir: string): unknown {
  if (e instanceof InputError) return e;
  if (e instanceof Deno.errors.NotCapable) {
    return new InputError(
      `Cannot write ${dir}: wgllama was not given write access (--allow-write)`,
    );
  }
  if (e instanceof Error && e.name !== "Error") {
    return new InputError(`Cannot write ${dir}: ${e.message}`);
  }
  return e;
}
