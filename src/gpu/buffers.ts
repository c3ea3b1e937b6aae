/**
 * GPU buffers: storage and uniform creation, upload from host views, read back, and matrices split
 * by rows when they exceed one storage binding.
 * @module
 */
import { uncaughtError } from "./device.ts";

/** How matrix elements are stored on the GPU (bf16 and f16 packed two per u32). */
export type ElementType = "f32" | "f16" | "bf16";
/** Bytes per element of each {@linkcode ElementType}. */
export const ELEMENT_BYTES: Readonly<Record<ElementType, number>> = { f32: 4, f16: 2, bf16: 2 };

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * Formats that weights are quantized into at load, along the input dimension: q8 (int8, groups of
 * 32), q5 (5-bit, groups of 64), q4 (4-bit, groups of 32).
 */
export type QuantFormat = "q8" | "q5" | "q4";
/** What a matrix can be packed into while loading: a quantized format, or bf16 (rounded). */
export type PackFormat = QuantFormat | "bf16";
/** How a matrix is stored on the GPU: in its upload element type, or quantized. */
export type MatrixType = ElementType | QuantFormat;
/**
 * Bytes of quants and of group scales per 32 elements of each quantized format, and the row
 * stride alignment (q8 packs the f16 scales of two groups per u32, so its rows hold whole pairs;
 * q5's groups are 64 wide: 12 bytes of scale, min and high bits per 64).
 */
export const QUANT_BYTES: Readonly<
  Record<QuantFormat, { quants: number; scales: number; align: number }>
> = {
  q8: { quants: 32, scales: 2, align: 64 }, // int8 ×32, f16 scale
  q5: { quants: 16, scales: 6, align: 64 }, // low 4 bits ×32; per 64: f16 scale + min, 64 high bits
  q4: { quants: 16, scales: 4, align: 32 }, // 4-bit ×32, f16 scale + f16 min
};
/** Elements per quantization unit of {@linkcode QUANT_BYTES} (q5's groups hold two). */
export const QUANT_GROUP = 32;

/** Bytes a matrix occupies on the GPU (quants and scales for quantized ones). */
export function matrixBytes(m: { type: MatrixType; rows: number; stride: number }): number {
  if (m.type === "q8" || m.type === "q5" || m.type === "q4") {
    const q = QUANT_BYTES[m.type];
    return (m.rows * m.stride / QUANT_GROUP) * (q.quants + q.scales);
  }
  return m.rows * m.stride * ELEMENT_BYTES[m.type];
}

/** A storage buffer of at least `bytes` (rounded up to 16). */
export function storageBuffer(device: GPUDevice, bytes: number, label: string): GPUBuffer {
  return device.createBuffer({
    size: Math.max(16, Math.ceil(bytes / 16) * 16),
    usage: STORAGE,
    label,
  });
}

/** A uniform buffer holding 32-bit words: integers as u32, `{ f32: x }` as f32. */
export function uniformBuffer(
  device: GPUDevice,
  words: (number | { f32: number })[],
  label: string,
): GPUBuffer {
  const data = new ArrayBuffer(Math.max(16, Math.ceil((words.length * 4) / 16) * 16));
  const u32 = new Uint32Array(data);
  const f32 = new Float32Array(data);
  words.forEach((w, i) => typeof w === "number" ? (u32[i] = w) : (f32[i] = w.f32));
  const buffer = device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label,
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/** Writes host bytes into a buffer, padding a ragged tail to the 4-byte multiple WebGPU requires. */
export function writeBytes(
  device: GPUDevice,
  buffer: GPUBuffer,
  offset: number,
  bytes: Uint8Array<ArrayBuffer>,
): void {
  const whole = bytes.length & ~3;
  if (whole > 0) device.queue.writeBuffer(buffer, offset, bytes, 0, whole);
  if (whole < bytes.length) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    device.queue.writeBuffer(buffer, offset + whole, tail);
  }
}

/** A storage buffer initialised with `data`. */
export function uploadArray(
  device: GPUDevice,
  data: Float32Array | Uint32Array,
  label: string,
): GPUBuffer {
  const buffer = storageBuffer(device, data.byteLength, label);
  writeBytes(
    device,
    buffer,
    0,
    new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength),
  );
  return buffer;
}

/** Copies `bytes` from `buffer` at `offset` back to the host. */
export async function readBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  bytes: number,
  offset = 0,
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.destroy();
  const failure = uncaughtError(device);
  if (failure) throw new Error(`GPU error: ${failure.message.split("\n")[0]}`);
  return out;
}

/**
 * Packs the [rows, stride] values uploaded in `source` (columns from `cols` on are padding) into
 * a new buffer (and group scales, when quantizing).
 */
export type PartPacker = (
  source: GPUBuffer,
  shape: { rows: number; cols: number; stride: number },
  label: string,
) => {
  buffer: GPUBuffer;
  scales?: GPUBuffer;
};

/** One part of a row-split matrix: rows firstRow..firstRow+rows-1 in their own buffer. */
export interface MatrixPart {
  readonly buffer: GPUBuffer;
  /** Group scales of a quantized part. */
  readonly scales?: GPUBuffer;
  readonly firstRow: number;
  readonly rows: number;
}

/** Row stride of matrices on the GPU: a multiple of 8 elements, so rows start 16-byte aligned. */
export const ROW_ALIGN = 8;

/**
 * A [rows, cols] matrix on the GPU in its stored element type, split by rows across bindings.
 * Rows lie `stride` elements apart (cols rounded up to {@linkcode ROW_ALIGN}, zero padded) so
 * kernels can read them with 16-byte vector loads.
 */
export interface GpuMatrix {
  readonly type: MatrixType;
  readonly rows: number;
  readonly cols: number;
  readonly stride: number;
  readonly parts: readonly MatrixPart[];
}

/**
 * Writes host bytes to the GPU in slices, waiting for the queue every `flushBytes`, so the
 * staging copies the implementation makes never pile up (peak host memory stays the model plus
 * about `flushBytes`).
 */
export class Uploader {
  #pending = 0;
  /**
   * `stagingBytes` bounds a packed matrix's staged part, so the GPU memory a packed load
   * needs is the packed model plus at most that much.
   */
  constructor(
    readonly device: GPUDevice,
    readonly flushBytes = 256 << 20,
    readonly stagingBytes = 256 << 20,
  ) {}

  /** Writes `bytes` into `buffer` at `offset`. */
  async write(buffer: GPUBuffer, offset: number, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
    const slice = Math.max(4, this.flushBytes & ~3);
    for (let at = 0; at < bytes.length; at += slice) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + slice));
      writeBytes(this.device, buffer, offset + at, part);
      this.#pending += part.length;
      if (this.#pending >= this.flushBytes) await this.flush();
    }
  }

  #staging: GPUBuffer | undefined;

  /** A reusable scratch buffer of at least `bytes` (grown when needed), for the sources of packing. */
  staging(bytes: number): GPUBuffer {
    if (!this.#staging || this.#staging.size < bytes) {
      this.#staging?.destroy();
      this.#staging = storageBuffer(this.device, bytes, "upload.staging");
    }
    return this.#staging;
  }

  /** Frees the staging buffer (after the last packing has been submitted). */
  release(): void {
    this.#staging?.destroy();
    this.#staging = undefined;
  }

  /** Submits and waits until every write so far has reached the GPU. */
  async flush(): Promise<void> {
    this.device.queue.submit([]);
    await this.device.queue.onSubmittedWorkDone();
    this.#pending = 0;
  }
}

/**
 * Uploads a row-major [rows, cols] matrix from host views (e.g. a memory map) part by part, so
 * host memory never holds a second copy of the model (only when cols is not a multiple of 8 are
 * rows padded on the host, a part at a time). Several views are stacked by rows into one matrix
 * (e.g. q, k and v projections, so one launch computes all three). Parts hold at most
 * `maxBindingBytes` (and, when packed, stage at most the uploader's `stagingBytes`).
 */
export async function uploadMatrix(
  uploader: Uploader,
  blocks: Uint8Array<ArrayBuffer> | Uint8Array<ArrayBuffer>[],
  shape: {
    type: ElementType;
    rows?: number;
    cols: number;
    maxBindingBytes: number;
    label: string;
    /** Pack each uploaded part (staged in the uploader's reusable buffer) with this. */
    pack?: { format: PackFormat; part: PartPacker };
    /** Parts hold whole multiples of this many rows (e.g. units a kernel's output reads together). */
    turn?: number;
  },
): Promise<GpuMatrix> {
  const { type, cols, maxBindingBytes, label, pack, turn = 1 } = shape;
  const size = ELEMENT_BYTES[type];
  const rowBytes = cols * size;
  const sources = Array.isArray(blocks) ? blocks : [blocks];
  if (sources.some((b) => b.length % rowBytes !== 0)) {
    throw new Error(`${label}: a block is not whole rows of ${cols}`);
  }
  const rows = sources.reduce((a, b) => a + b.length / rowBytes, 0);
  if (shape.rows !== undefined && shape.rows !== rows) {
    throw new Error(`${label}: ${rows} rows given, ${shape.rows} expected`);
  }
  const align = pack && pack.format !== "bf16" ? QUANT_BYTES[pack.format].align : ROW_ALIGN;
  const stride = Math.ceil(cols / align) * align;
  const partBytes = pack ? Math.min(maxBindingBytes, uploader.stagingBytes) : maxBindingBytes;
  const perPart = Math.floor(partBytes / (stride * size * turn)) * turn;
  if (perPart < 1) {
    throw new Error(
      `${label}: ${turn} row(s) of ${stride * size} bytes exceed the part size ${partBytes}`,
    );
  }
  const parts: MatrixPart[] = [];
  for (let firstRow = 0; firstRow < rows; firstRow += perPart) {
    const n = Math.min(perPart, rows - firstRow);
    const partLabel = parts.length ? `${label}[${parts.length}]` : label;
    const buffer = pack
      ? uploader.staging(n * stride * size)
      : storageBuffer(uploader.device, n * stride * size, partLabel);
    const writes = new GatheredWrites(uploader, buffer);
    let blockStart = 0; // first row of the current block in the stacked matrix
    for (const block of sources) {
      const blockRows = block.length / rowBytes;
      const from = Math.max(firstRow, blockStart);
      const to = Math.min(firstRow + n, blockStart + blockRows);
      if (from < to) {
        const src = block.subarray((from - blockStart) * rowBytes, (to - blockStart) * rowBytes);
        const padded = stride === cols ? src : padRows(src, to - from, rowBytes, stride * size);
        await writes.write((from - firstRow) * stride * size, padded);
      }
      blockStart += blockRows;
    }
    await writes.flush();
    if (pack) {
      // Every row of the part was written, padding included, so the reused staging buffer holds
      // exactly this part.
      parts.push({
        ...pack.part(buffer, { rows: n, cols, stride }, partLabel),
        firstRow,
        rows: n,
      });
    } else parts.push({ buffer, firstRow, rows: n });
  }
  return { type: pack ? pack.format : type, rows, cols, stride, parts };
}

/** Bytes {@linkcode GatheredWrites} collects before writing. */
const GATHER_BYTES = 4 << 20;

/**
 * Consecutive writes into one buffer, gathered on the host and written a few MiB at a time: a
 * matrix uploaded in turns of 4 rows is thousands of small views, and each write costs more than
 * its bytes. A large view is written as it is (no copy).
 */
class GatheredWrites {
  #at = 0;
  #chunks: Uint8Array<ArrayBuffer>[] = [];
  #bytes = 0;

  constructor(readonly uploader: Uploader, readonly buffer: GPUBuffer) {}

  async write(offset: number, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
    if (this.#bytes && this.#at + this.#bytes !== offset) await this.flush();
    if (!this.#bytes) this.#at = offset;
    this.#chunks.push(bytes);
    this.#bytes += bytes.length;
    if (this.#bytes >= GATHER_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.#bytes) return;
    let one = this.#chunks[0]!;
    if (this.#chunks.length > 1) {
      one = new Uint8Array(this.#bytes);
      let at = 0;
      for (const c of this.#chunks) {
        one.set(c, at);
        at += c.length;
      }
    }
    await this.uploader.write(this.buffer, this.#at, one);
    [this.#chunks, this.#bytes] = [[], 0];
  }
}

/**
 * Views of `blocks`' rows taken in turn, `n` at a time, each block zero padded to a multiple of n
 * (blocks of equal rows): for [A, B] and 4, rows A0..A3, B0..B3, A4..A7, B4..B7, … — so a kernel's
 * 8-row unit holds rows of both that belong together.
 */
export function inTurns(
  blocks: Uint8Array<ArrayBuffer>[],
  n: number,
  rowBytes: number,
): Uint8Array<ArrayBuffer>[] {
  const rows = blocks[0]!.length / rowBytes;
  if (blocks.some((b) => b.length !== rows * rowBytes)) {
    throw new Error("inTurns: blocks of unequal rows");
  }
  const zeros = new Uint8Array(n * rowBytes);
  const views: Uint8Array<ArrayBuffer>[] = [];
  for (let first = 0; first < rows; first += n) {
    const last = Math.min(rows, first + n);
    for (const b of blocks) {
      views.push(b.subarray(first * rowBytes, last * rowBytes));
      if (last - first < n) views.push(zeros.subarray(0, (n - (last - first)) * rowBytes));
    }
  }
  return views;
}

function padRows(
  src: Uint8Array,
  rows: number,
  rowBytes: number,
  strideBytes: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(rows * strideBytes);
  for (let r = 0; r < rows; r++) {
    out.set(src.subarray(r * rowBytes, (r + 1) * rowBytes), r * strideBytes);
  }
  return out;
}
