/** A small safetensors writer for tests, plus helpers to write model folders. */

/** A tensor to write: dtype, shape and raw little-endian bytes. */
export interface TensorSpec {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Serialises tensors (in order) with an optional raw header override. */
export function encodeSafetensors(
  tensors: Record<string, TensorSpec>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length],
    };
    offset += t.data.length;
  }
  return withHeader(JSON.stringify(header), Object.values(tensors).map((t) => t.data));
}

/** A file from a literal header string and data chunks (for malformed cases). */
export function withHeader(header: string, chunks: Uint8Array[] = []): Uint8Array {
  const json = new TextEncoder().encode(header);
  const total = 8 + json.length + chunks.reduce((a, c) => a + c.length, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}

/** f32 values as bytes. */
export function f32Bytes(values: number[] | Float32Array): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A fresh temp folder with the given files (strings are written as text). */
export function tempFolder(files: Record<string, string | Uint8Array | object>): string {
  const dir = Deno.makeTempDirSync({ prefix: "wgllama_test_" });
  for (const [name, content] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    if (content instanceof Uint8Array) Deno.writeFileSync(path, content);
    else if (typeof content === "string") Deno.writeTextFileSync(path, content);
    else Deno.writeTextFileSync(path, JSON.stringify(content));
  }
  return dir;
}
