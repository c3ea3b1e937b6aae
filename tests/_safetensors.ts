/** Safetensors files for tests (through src/io's writer), plus helpers to write model folders. */
import { safetensorsFile } from "../src/io/safetensors_writer.ts";
import { TensorStore, toF32 } from "../src/io/safetensors.ts";
import { tempDir } from "./_temp.ts";

/** A tensor to write: dtype, shape and raw little-endian bytes. */
export interface TensorSpec {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Serialises tensors (in order), with the project's writer. */
export function encodeSafetensors(
  tensors: Record<string, TensorSpec>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = Object.entries(tensors).map(([name, t]) => ({ name, ...t }));
  // The data spans come from the bytes given (a test may give a span that disagrees with the shape).
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of entries) {
    header[t.name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length],
    };
    offset += t.data.length;
  }
  return safetensorsFile(JSON.stringify(header), entries.map((t) => t.data));
}

/** A file from a literal header string and data chunks (for malformed cases). */
export const withHeader = safetensorsFile;

/** f32 values as bytes. */
export function f32Bytes(values: number[] | Float32Array): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A fresh temp folder with the given files (strings are written as text). */
export function tempFolder(files: Record<string, string | Uint8Array | object>): string {
  const dir = tempDir({ prefix: "wgllama_test_" });
  for (const [name, content] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    if (content instanceof Uint8Array) Deno.writeFileSync(path, content);
    else if (typeof content === "string") Deno.writeTextFileSync(path, content);
    else Deno.writeTextFileSync(path, JSON.stringify(content));
  }
  return dir;
}

/** Every tensor of a safetensors file, widened to f32, by name. */
export function readTensors(path: string): Map<string, Float32Array> {
  const store = TensorStore.openFile(path, { read: true });
  try {
    return new Map([...store.tensors].map(([name, t]) => [name, toF32(store.bytes(t), t.dtype)]));
  } finally {
    store.close();
  }
}
