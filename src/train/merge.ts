/**
 * A base model with a LoRA adapter merged in, written as a Hugging Face folder (what PEFT's
 * `merge_and_unload` then `save_pretrained` give): every targeted matrix W + s·B·A computed in f32
 * and saved in the chosen type, every other tensor as it was (converted only when the type
 * changes), one tensor in memory at a time; config, generation config and tokenizer files copied.
 * @module
 */
import { InputError } from "../errors.ts";
import { WEIGHTS_FILE } from "../io/hf_folder.ts";
import { toF32 } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors_writer.ts";
import { type Adapter, mergeDelta } from "../model/adapter.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import {
  encodeAs,
  FileSet,
  HF_METADATA,
  modelConfig,
  SAVE_DTYPES,
  type SaveDtype,
  TOKENIZER_FILES,
  writeError,
} from "./save.ts";

/** Writes `base` + `adapter` to `dir` in `dtype`; returns how many matrices changed. */
export function mergeModel(
  base: Checkpoint,
  adapter: Adapter,
  dir: string,
  dtype: SaveDtype,
): number {
  const store = base.weights!;
  const tensors = [...store.tensors.values()];
  let merged = 0;
  const files = new FileSet(dir);
  try {
    Deno.mkdirSync(dir, { recursive: true });
    files.copyFrom(base.dir, ["generation_config.json", ...TOKENIZER_FILES]);
    const config = JSON.parse(Deno.readTextFileSync(`${base.dir}/config.json`));
    files.json("config.json", modelConfig(config, dtype));
    const entries = tensors.map((t) => ({
      name: t.name,
      dtype: SAVE_DTYPES[dtype],
      shape: t.shape,
    }));
    files.write(WEIGHTS_FILE, (path) =>
      writeSafetensors(path, entries, (e, write) => {
        const t = store.tensors.get(e.name)!;
        const delta = adapter.delta(t.name);
        if (!delta && SAVE_DTYPES[dtype] === t.dtype) return write(store.finiteBytes(t));
        const w = toF32(store.finiteBytes(t), t.dtype);
        if (delta) {
          mergeDelta(w, t.shape[0]!, t.shape[1]!, delta, adapter.scale);
          const at = w.findIndex((v) => !Number.isFinite(v));
          if (at >= 0) {
            throw new InputError(`${t.name}[${at}] is ${w[at]} once merged: not saving ${dir}`);
          }
          merged++;
        }
        write(encodeAs(w, dtype));
        store.release(t);
      }, HF_METADATA));
    files.commit();
  } catch (e) {
    files.abort();
    throw writeError(e, files.current ?? dir);
  }
  return merged;
}
