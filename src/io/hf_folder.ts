/**
 * Hugging Face model folders: find one from a path or an offline hub-cache id, read its JSON files
 * with errors that name the file, and open its weights (single file or shard index).
 * @module
 */
import { InputError } from "../errors.ts";
import { type OpenOptions, TensorStore } from "./safetensors.ts";

/** The name of the model built into wgllama (llama2.c's stories260K, 1 MB, in `models/`). */
export const BUILTIN_MODEL = "stories-260k";

/**
 * The built-in model's folder. Beside the sources in a checkout; inside a `deno compile` binary
 * the same path lies in its embedded file system (see {@linkcode MappedFile.open}).
 */
export function builtinModelDir(): string {
  return decodeURIComponent(new URL(`../../models/${BUILTIN_MODEL}`, import.meta.url).pathname);
}

/** The model a command uses when given none: `$WGLLAMA_MODEL`, else the built-in model. */
export function defaultModel(env: (name: string) => string | undefined = Deno.env.get): string {
  return env("WGLLAMA_MODEL") || BUILTIN_MODEL;
}

/** The hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hubCacheDir(env: (name: string) => string | undefined = Deno.env.get): string {
  const hubCache = env("HF_HUB_CACHE");
  if (hubCache) return hubCache;
  const hfHome = env("HF_HOME");
  if (hfHome) return `${hfHome}/hub`;
  return `${env("HOME") ?? "."}/.cache/huggingface/hub`;
}

/** Whether `path` is a directory ("dir") or a file ("file"); false when it cannot be read. */
export function pathIs(path: string, kind: "dir" | "file"): boolean {
  try {
    const info = Deno.statSync(path);
    return kind === "dir" ? info.isDirectory : info.isFile;
  } catch {
    return false;
  }
}

/**
 * Resolves `spec` to a folder, first match wins: an existing folder, an `org/name` id found in the
 * local hub cache, the name of the built-in model. Never touches the network.
 */
export function resolveModelDir(spec: string, cacheDir: string = hubCacheDir()): string {
  if (pathIs(spec, "dir")) return spec.replace(/\/+$/, "") || "/";
  if (spec === BUILTIN_MODEL) return builtinModelDir();
  const id = /^([\w.-]+)\/([\w.-]+)$/.exec(spec);
  if (!id) {
    throw new InputError(
      `Cannot find model ${spec}: no such directory, and not an org/name id or "${BUILTIN_MODEL}"`,
    );
  }
  const repo = `${cacheDir}/models--${id[1]}--${id[2]}`;
  if (!pathIs(repo, "dir")) {
    throw new InputError(
      `Cannot find model ${spec}: not a directory, and not in the Hugging Face cache (${repo} is missing; wgllama never downloads)`,
    );
  }
  let revision: string | undefined;
  try {
    revision = Deno.readTextFileSync(`${repo}/refs/main`).trim();
  } catch {
    const snapshots = [...safeReadDir(`${repo}/snapshots`)];
    if (snapshots.length === 1) revision = snapshots[0];
  }
  const snapshot = `${repo}/snapshots/${revision}`;
  if (revision === undefined || !pathIs(snapshot, "dir")) {
    throw new InputError(`Cannot find model ${spec} in ${repo}: no snapshot for refs/main`);
  }
  return snapshot;
}

function* safeReadDir(path: string): Generator<string> {
  try {
    for (const e of Deno.readDirSync(path)) if (e.isDirectory) yield e.name;
  } catch { /* no such folder: nothing to list */ }
}

/** Reads a text file, failing with one line; `undefined` when absent and `optional`. */
export function readText(path: string, options: { optional: true }): string | undefined;
export function readText(path: string, options?: { optional?: false }): string;
export function readText(path: string, options: { optional?: boolean } = {}): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (options.optional && e instanceof Deno.errors.NotFound) return undefined;
    throw new InputError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/** Reads and parses a JSON file; `undefined` when absent and `optional`. */
export function readJson(path: string, options: { optional: true }): unknown;
export function readJson(path: string, options?: { optional?: false }): unknown;
export function readJson(path: string, options: { optional?: boolean } = {}): unknown {
  const text = readText(path, { optional: true });
  if (text === undefined) {
    if (options.optional) return undefined;
    throw new InputError(`Cannot read ${path}: file not found`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError(`Cannot parse ${path}: not valid JSON`);
  }
}

/** A sharded model's index, and a single-file model's weights. */
export const INDEX_FILE = "model.safetensors.index.json";
export const WEIGHTS_FILE = "model.safetensors";

/**
 * Opens the folder's weights: `model.safetensors.index.json` shards, or `model.safetensors`.
 * Returns `undefined` when the folder has neither; a folder with both is refused, since which
 * one is current cannot be told.
 */
export function openWeights(dir: string, options: OpenOptions = {}): TensorStore | undefined {
  const indexPath = `${dir}/${INDEX_FILE}`;
  const single = `${dir}/${WEIGHTS_FILE}`;
  const index = readJson(indexPath, { optional: true });
  if (index !== undefined && pathIs(single, "file")) {
    throw new InputError(
      `${dir} holds both ${WEIGHTS_FILE} and ${INDEX_FILE} (two weight sets): expected one; remove the stale one`,
    );
  }
  if (index !== undefined) {
    const map = (index as { weight_map?: unknown })?.weight_map;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new InputError(
        `${indexPath}: field "weight_map" must be an object of tensor name → shard file`,
      );
    }
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== "string" || !/^[^/\\]+\.safetensors$/.test(shard)) {
        throw new InputError(
          `${indexPath}: weight_map["${name}"] is ${
            JSON.stringify(shard)
          }: expected a .safetensors file name in the folder`,
        );
      }
    }
    return TensorStore.openIndex(indexPath, map as Record<string, string>, options);
  }
  try {
    Deno.statSync(single);
  } catch {
    return undefined;
  }
  return TensorStore.openFile(single, options);
}
