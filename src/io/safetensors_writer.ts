/**
 * Writing safetensors files: the 8-byte header length, the JSON header, then the tensors' bytes
 * back to back in order. One writer for the synthetic benchmark models, the tests and the benches.
 * @module
 */

/** A tensor's entry: what its bytes are. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: readonly number[];
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I8: 1, U8: 1 };

/** Bytes a tensor occupies. */
export function tensorBytes(t: TensorEntry): number {
  return t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 1);
}

/** The header of `tensors` laid out back to back: its JSON text and the data's total size. */
export function safetensorsHeader(
  tensors: readonly TensorEntry[],
  metadata?: Record<string, string>,
): { json: string; dataBytes: number } {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    const bytes = tensorBytes(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return { json: JSON.stringify(header), dataBytes: offset };
}

/** A whole file in memory from a header's JSON text (valid or not) and data chunks. */
export function safetensorsFile(json: string, chunks: readonly Uint8Array[] = []): Uint8Array {
  const header = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + header.length + chunks.reduce((a, c) => a + c.length, 0));
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let at = 8 + header.length;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}

/**
 * Writes `tensors` to `path`, streaming each one's bytes from `data(t, write)`; without `data`
 * the file is sized to hold them but left sparse (zeros), for header-only benchmarks. `metadata`
 * becomes the header's `__metadata__`.
 */
export function writeSafetensors(
  path: string,
  tensors: readonly TensorEntry[],
  data?: (t: TensorEntry, write: (bytes: Uint8Array) => void) => void,
  metadata?: Record<string, string>,
): void {
  const { json, dataBytes } = safetensorsHeader(tensors, metadata);
  const file = Deno.openSync(path, { create: true, write: true, truncate: true });
  try {
    const write = (bytes: Uint8Array) => {
      for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
    };
    const head = safetensorsFile(json);
    write(head);
    if (data) { for (const t of tensors) data(t, write); }
    else file.truncateSync(head.length + dataBytes);
  } finally {
    file.close();
  }
}
