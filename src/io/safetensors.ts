/**
 * Safetensors files and shard sets, validated before any byte is trusted: the header must fit the
 * file, parse as a JSON object, and describe supported dtypes whose spans are exact, in range and
 * disjoint. Tensor data is exposed as zero-copy views of the memory map.
 * @module
 */
import { InputError } from "../errors.ts";
import { MappedFile } from "./mmap.ts";

/** Element types we can compute with. */
export type DType = "BF16" | "F16" | "F32";
/** Bytes per element of each supported dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { BF16: 2, F16: 2, F32: 4 };
/** Dtypes of the safetensors format that we recognise but cannot compute with. */
const OTHER_DTYPES = [
  "F64",
  "F8_E4M3",
  "F8_E5M2",
  "I8",
  "U8",
  "I16",
  "U16",
  "I32",
  "U32",
  "I64",
  "U64",
  "BOOL",
];
/** Headers above this size are refused as absurd (real ones are well under 1 MiB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor: where its bytes lie in which file. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
  readonly file: MappedFile;
}

/** Parses and validates the header of a mapped safetensors file. */
export function readSafetensorsHeader(file: MappedFile): TensorInfo[] {
  const path = file.path;
  if (file.size < 8) {
    throw new InputError(
      `${path} is not a safetensors file: it has ${file.size} bytes, expected at least 8`,
    );
  }
  const headerLength = new DataView(file.view(0, 8).slice().buffer).getBigUint64(0, true);
  if (headerLength < 2n || headerLength > BigInt(Math.min(file.size - 8, MAX_HEADER_BYTES))) {
    throw new InputError(
      `${path} is not a safetensors file: header length ${headerLength} must be within 2..${
        Math.min(file.size - 8, MAX_HEADER_BYTES)
      } bytes (file has ${file.size} bytes)`,
    );
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(file.view(8, n)));
  } catch {
    throw new InputError(
      `${path} is not a safetensors file: its ${n}-byte header is not valid JSON`,
    );
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new InputError(`${path} is not a safetensors file: its header must be a JSON object`);
  }
  const dataStart = 8 + n;
  const dataBytes = file.size - dataStart;
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    tensors.push(parseEntry(path, name, entry, dataStart, dataBytes, file));
  }
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b.offset < a.offset + a.byteLength && b.byteLength > 0) {
      throw new InputError(
        `${path}: tensors "${a.name}" and "${b.name}" overlap in the data region`,
      );
    }
  }
  return tensors;
}

function parseEntry(
  path: string,
  name: string,
  entry: unknown,
  dataStart: number,
  dataBytes: number,
  file: MappedFile,
): TensorInfo {
  const where = `${path}: tensor "${name}"`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new InputError(`${where} must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== "string") {
    throw new InputError(`${where} has dtype ${JSON.stringify(dtype)}: expected a string`);
  }
  if (!(dtype in DTYPE_BYTES)) {
    const kind = OTHER_DTYPES.includes(dtype) ? "unsupported" : "unknown";
    throw new InputError(`${where} has ${kind} dtype "${dtype}": expected BF16, F16 or F32`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InputError(
      `${where} has shape ${JSON.stringify(shape)}: expected non-negative integers`,
    );
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new InputError(
      `${where} has data_offsets ${
        JSON.stringify(offsets)
      }: expected [begin, end] non-negative integers`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw new InputError(`${where} has data_offsets [${begin}, ${end}]: end is before begin`);
  }
  if (end > dataBytes) {
    throw new InputError(
      `${where} has data_offsets [${begin}, ${end}] past the end of the data (${dataBytes} bytes): the file is truncated or corrupt`,
    );
  }
  const typed = dtype as DType;
  const expected = shape.reduce((p: number, d: number) => p * d, 1) * DTYPE_BYTES[typed];
  if (expected !== end - begin) {
    throw new InputError(
      `${where} must span ${expected} bytes (shape [${shape}], ${dtype}): current span is ${
        end - begin
      } bytes`,
    );
  }
  return {
    name,
    dtype: typed,
    shape: Object.freeze([...shape]),
    offset: dataStart + begin,
    byteLength: end - begin,
    file,
  };
}

/** How {@linkcode TensorStore} opens files. */
export interface OpenOptions {
  /** Read files whole instead of mapping them (what embedded files need). @default false */
  read?: boolean;
}

/** All tensors of a model, from one file or a shard set; each file is mapped once. */
export class TensorStore {
  /** Tensors {@linkcode TensorStore.finiteBytes} has scanned. */
  readonly #finite = new Set<TensorInfo>();

  private constructor(
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly files: MappedFile[],
  ) {}

  /** Maps (or with `read`, reads whole: see {@linkcode MappedFile.read}) and validates one file. */
  static openFile(path: string, options: OpenOptions = {}): TensorStore {
    return TensorStore.#open([path], undefined, options);
  }

  /** Maps the shards of `model.safetensors.index.json` (`weight_map`: tensor name → shard file). */
  static openIndex(
    indexPath: string,
    weightMap: Readonly<Record<string, string>>,
    options: OpenOptions = {},
  ): TensorStore {
    const dir = indexPath.slice(0, indexPath.lastIndexOf("/") + 1);
    const shards = [...new Set(Object.values(weightMap))].map((f) => dir + f);
    return TensorStore.#open(shards, { indexPath, weightMap, dir }, options);
  }

  static #open(
    paths: string[],
    index:
      | { indexPath: string; weightMap: Readonly<Record<string, string>>; dir: string }
      | undefined,
    options: OpenOptions,
  ): TensorStore {
    const files: MappedFile[] = [];
    try {
      const tensors = new Map<string, TensorInfo>();
      for (const path of paths) {
        let file: MappedFile;
        try {
          file = options.read ? MappedFile.read(path) : MappedFile.open(path);
        } catch (e) {
          const via = index ? ` (listed in ${index.indexPath})` : "";
          throw e instanceof InputError
            ? new InputError(`Cannot open shard ${path}${via}: it is missing or unreadable`)
            : e;
        }
        files.push(file);
        for (const t of readSafetensorsHeader(file)) {
          const other = tensors.get(t.name);
          if (other) {
            throw new InputError(
              `Tensor "${t.name}" appears in both ${other.file.path} and ${path}`,
            );
          }
          tensors.set(t.name, t);
        }
      }
      if (index) {
        for (const [name, shard] of Object.entries(index.weightMap)) {
          const t = tensors.get(name);
          if (!t) {
            throw new InputError(
              `${index.indexPath}: tensor "${name}" is mapped to ${shard}, which does not contain it`,
            );
          }
          if (t.file.path !== index.dir + shard) {
            throw new InputError(
              `${index.indexPath}: tensor "${name}" is mapped to ${shard} but lies in ${t.file.path}`,
            );
          }
        }
      }
      return new TensorStore(tensors, files);
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
  }

  /** Zero-copy bytes of a tensor (valid until {@linkcode TensorStore.close}). */
  bytes(t: TensorInfo): Uint8Array<ArrayBuffer> {
    return t.file.view(t.offset, t.byteLength);
  }

  /**
   * {@linkcode TensorStore.bytes}, refused in one line naming the file, tensor and element when
   * one is NaN or infinite (a diverged training run would turn every reply into nothing). Each
   * tensor is scanned once, however often it is read.
   */
  finiteBytes(t: TensorInfo): Uint8Array<ArrayBuffer> {
    const bytes = this.bytes(t);
    if (this.#finite.has(t)) return bytes;
    const at = firstNonFinite(bytes, t.dtype);
    if (at >= 0) {
      throw new InputError(
        `${t.file.path}: tensor "${t.name}" holds NaN or infinity (element ${at}): expected finite weights`,
      );
    }
    this.#finite.add(t);
    return bytes;
  }

  /** Drops a tensor's pages from resident memory once it has been copied elsewhere. */
  release(t: TensorInfo): void {
    t.file.release(t.offset, t.byteLength);
  }

  /** Unmaps every file. */
  close(): void {
    for (const f of this.files) f.close();
  }
}

/** A tensor's bytes widened to f32 on the host (exactly: bf16 and f16 are subsets of f32). */
export function toF32(bytes: Uint8Array, dtype: DType): Float32Array<ArrayBuffer> {
  const copy = bytes.slice(); // an aligned copy
  if (dtype === "F32") return new Float32Array(copy.buffer);
  // Plain loops: TypedArray.from collects its source into a list first, which a tensor of a
  // quarter-billion elements (a 128k-vocabulary embedding) overflows.
  if (dtype === "F16") {
    const half = new Float16Array(copy.buffer);
    const out = new Float32Array(half.length);
    for (let i = 0; i < half.length; i++) out[i] = half[i]!;
    return out;
  }
  const half = new Uint16Array(copy.buffer);
  const bits = new Uint32Array(half.length);
  for (let i = 0; i < half.length; i++) bits[i] = half[i]! << 16;
  return new Float32Array(bits.buffer);
}

/** The exponent bits of each dtype: all set means infinity or NaN. */
const EXPONENT: Readonly<Record<DType, number>> = { F32: 0x7f800000, F16: 0x7c00, BF16: 0x7f80 };

/**
 * The index of the first element of `bytes` (little-endian `dtype`) that is NaN or infinite, or
 * -1 when every one is finite. Reads words: ~6 GB/s, a few seconds for an 8B model.
 */
export function firstNonFinite(bytes: Uint8Array, dtype: DType): number {
  const e = EXPONENT[dtype];
  const size = DTYPE_BYTES[dtype];
  const words = bytes.byteOffset % 4 === 0
    ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2)
    : new Uint32Array(0);
  if (size === 4) {
    for (let i = 0; i < words.length; i++) {
      if ((words[i]! & e) === e) return i;
    }
  } else {
    // Both halves at once: adding each exponent's lowest bit carries into its sign bit only
    // when every exponent bit is set.
    const mask = (e | (e << 16)) >>> 0;
    const carry = (e & -e) * 0x10001;
    for (let i = 0; i < words.length; i++) {
      if ((((words[i]! & mask) + carry) & 0x80008000) !== 0) {
        return 2 * i + ((words[i]! & e) === e ? 0 : 1);
      }
    }
  }
  // The tail (or all of an unaligned view), element by element.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = (words.length * 4) / size; i < bytes.byteLength / size; i++) {
    const x = size === 4 ? view.getUint32(i * 4, true) : view.getUint16(i * 2, true);
    if ((x & e) === e) return i;
  }
  return -1;
}
