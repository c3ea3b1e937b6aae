/**
 * Writing a trained model as a Hugging Face folder that wgllama and transformers load: the
 * source's config (torch_dtype set to the saved type) and generation config, its tokenizer
 * files copied, `model.safetensors` in the chosen type (rounded to nearest even), and — for a
 * checkpoint that resumes exactly — the f32 masters, AdamW moments and trainer state.
 * @module
 */
import { InputError, UsageError } from "../errors.ts";
import { builtinModelDir, INDEX_FILE, pathIs, WEIGHTS_FILE } from "../io/hf_folder.ts";
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

/** config.json's object: the given config with torch_dtype set to `dtype`'s. */
export function modelConfig(config: Record<string, unknown>, dtype: SaveDtype) {
  const { torch_dtype: _, dtype: __, ...rest } = config;
  return { ...rest, torch_dtype: TORCH_DTYPE[dtype] };
}

/** The header metadata transformers' `save_pretrained` writes (and its loader checks). */
export const HF_METADATA = { format: "pt" };

/** The optimizer state and trainer state files of a resumable checkpoint. */
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const STATE_FILE = "trainer_state.json";

/** f32 values as the bytes of `dtype` (bf16 and f16 rounded to nearest even). */
export function encodeAs(values: Float32Array, dtype: SaveDtype): Uint8Array {
  if (dtype === "f32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === "f16") {
    // A plain loop: Float16Array.from would list a large tensor's values first.
    const out = new Float16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = values[i]!;
    return new Uint8Array(out.buffer);
  }
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

/** A trained model's tensors (HF names, in order, with shapes) and how to save them. */
export interface SavedModel {
  /** The folder the model came from: its generation config and tokenizer files are copied. */
  from: string;
  /** The source's config.json object. */
  config: Record<string, unknown>;
  tensors: readonly { name: string; shape: number[]; data: Float32Array }[];
  dtype: SaveDtype;
}

/**
 * Writes a checkpoint to `dir` as one unit: the model folder (config, generation config,
 * tokenizer files, `model.safetensors`) and, when given, the optimizer tensors and trainer state.
 * Every file goes to a temporary name first; only when all are complete are they renamed into
 * place (trainer_state.json last), then the shards and index of a sharded model the folder held
 * are removed. A failure removes the temporaries and leaves the previous checkpoint whole.
 * Weights that are not finite are refused: a NaN never overwrites a model.
 */
export function saveCheckpoint(
  dir: string,
  model: SavedModel,
  training?: {
    optimizer: ReadonlyMap<string, { shape: number[]; data: Float32Array }>;
    state: Record<string, unknown>;
  },
): void {
  for (const t of model.tensors) {
    const at = t.data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) {
      throw new InputError(
        `Not saving ${dir}: ${t.name}[${at}] is ${t.data[at]}: the weights are not finite`,
      );
    }
  }
  const files = new FileSet(dir);
  try {
    Deno.mkdirSync(dir, { recursive: true });
    files.copyFrom(model.from, ["generation_config.json", ...TOKENIZER_FILES]);
    files.json("config.json", modelConfig(model.config, model.dtype));
    const entries = model.tensors.map((t) => ({
      name: t.name,
      dtype: SAVE_DTYPES[model.dtype],
      shape: t.shape,
    }));
    const byName = new Map(model.tensors.map((t) => [t.name, t.data]));
    files.write(WEIGHTS_FILE, (path) =>
      writeSafetensors(
        path,
        entries,
        (e, write) => write(encodeAs(byName.get(e.name)!, model.dtype)),
        HF_METADATA,
      ));
    if (training) writeTrainingState(files, training);
    files.commit();
  } catch (e) {
    files.abort();
    throw writeError(e, files.current ?? dir);
  }
  removeShards(dir);
}

/** A resumable checkpoint's optimizer tensors (F32) and trainer state, into `files`. */
export function writeTrainingState(
  files: FileSet,
  training: {
    optimizer: ReadonlyMap<string, { shape: number[]; data: Float32Array }>;
    state: Record<string, unknown>;
  },
): void {
  const { optimizer } = training;
  files.write(OPTIMIZER_FILE, (path) =>
    writeSafetensors(
      path,
      [...optimizer].map(([name, t]) => ({ name, dtype: "F32", shape: t.shape })),
      (e, write) => write(encodeAs(optimizer.get(e.name)!.data, "f32")),
    ));
  files.json(STATE_FILE, training.state);
}

/**
 * Files written to temporary names in one folder and renamed into place together by
 * {@linkcode FileSet.commit}, in the order written; {@linkcode FileSet.abort} removes them.
 */
export class FileSet {
  readonly #dir: string;
  readonly #names: string[] = [];
  /** The path being written or renamed (what an error names). */
  current: string | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Writes `name` through `write(temporaryPath)`, flushed to the disk. */
  write(name: string, write: (tmp: string) => void): void {
    const tmp = `${this.#dir}/${name}.tmp`;
    this.current = tmp;
    this.#names.push(name);
    write(tmp);
    using file = Deno.openSync(tmp, { read: true });
    file.syncSync();
    this.current = undefined;
  }

  /** Writes `name` as pretty JSON. */
  json(name: string, value: unknown): void {
    this.write(name, (tmp) => Deno.writeTextFileSync(tmp, JSON.stringify(value, null, 2) + "\n"));
  }

  /** Copies the files of `names` that folder `from` has (nothing when it is this folder). */
  copyFrom(from: string, names: readonly string[]): void {
    if (Deno.realPathSync(this.#dir) === Deno.realPathSync(from)) return;
    for (const name of names) {
      if (!pathIs(`${from}/${name}`, "file")) continue;
      this.write(name, (tmp) => Deno.copyFileSync(`${from}/${name}`, tmp));
    }
  }

  /** Renames every file into place. */
  commit(): void {
    for (const name of this.#names) {
      this.current = `${this.#dir}/${name}`;
      Deno.renameSync(`${this.#dir}/${name}.tmp`, this.current);
    }
    this.current = undefined;
  }

  /** Removes the temporaries written so far (best effort: the error that led here is the news). */
  abort(): void {
    for (const name of this.#names) {
      try {
        Deno.removeSync(`${this.#dir}/${name}.tmp`);
      } catch { /* already renamed, or never made */ }
    }
  }
}

/** Once a single model.safetensors is in place: the index and shards of an older sharded model. */
function removeShards(dir: string): void {
  const indexPath = `${dir}/${INDEX_FILE}`;
  if (!pathIs(indexPath, "file")) return;
  let shards: unknown[] = [];
  try {
    const map = (JSON.parse(Deno.readTextFileSync(indexPath)) as { weight_map?: unknown })
      ?.weight_map;
    if (typeof map === "object" && map !== null) shards = Object.values(map);
  } catch { /* an unreadable index is removed all the same */ }
  try {
    Deno.removeSync(indexPath);
    for (const shard of new Set(shards)) {
      if (typeof shard !== "string" || !/^[^/\\]+\.safetensors$/.test(shard)) continue;
      if (shard === WEIGHTS_FILE) continue;
      try {
        Deno.removeSync(`${dir}/${shard}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  } catch (e) {
    throw writeError(e, indexPath);
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

/** A failure to write `path` as the user's error, in one line naming it (others pass through). */
export function writeError(e: unknown, path: string): unknown {
  if (e instanceof InputError) return e;
  if (e instanceof Deno.errors.NotCapable) {
    return new InputError(
      `Cannot write ${path}: wgllama was not given write access (--allow-write)`,
    );
  }
  // Deno's file-system errors: a named class, or a plain Error carrying the OS error number.
  if (e instanceof Error && (e.name !== "Error" || /\(os error \d+\)/.test(e.message))) {
    // Deno's messages end with the operation and path (", open '/x/y'"): ours names it first.
    return new InputError(`Cannot write ${path}: ${e.message.replace(/: \w+ '[^']*'$/, "")}`);
  }
  return e;
}

/**
 * Refuses, before any work, an output folder that would replace a model: the built-in model's
 * folder always, any other folder holding a model unless `overwrite` (or it is the checkpoint
 * this run resumes from, `resuming`). `flag` names the option in the message.
 */
export function checkOutFolder(
  dir: string,
  o: { flag: string; overwrite: boolean; resuming?: string },
): void {
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return undefined;
    }
  };
  const here = real(dir);
  if (here === undefined) return; // a new folder
  if (here === real(builtinModelDir())) {
    throw new InputError(
      `${o.flag} ${dir} is the built-in model's folder, which is never written: choose another folder`,
    );
  }
  if (o.resuming !== undefined && here === real(o.resuming)) return;
  const held = ["config.json", WEIGHTS_FILE, INDEX_FILE, "adapter_model.safetensors"].filter((f) =>
    pathIs(`${dir}/${f}`, "file")
  );
  if (held.length && !o.overwrite) {
    throw new InputError(
      `${o.flag} ${dir} already holds a model (${
        held.join(", ")
      }): add --overwrite to replace it, or choose another folder`,
    );
  }
}
