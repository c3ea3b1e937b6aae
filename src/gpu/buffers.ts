/**
 * GPU buffers: storage and uniform creation, upload from host views, read back, and matrices split
 * by rows when they exceed one storage binding.
 * @module
 */

/** How matrix elements are stored on the GPU (bf16 and f16 packed two per u32). */
export type ElementType = "f32" | "f16" | "bf16";
/** Bytes per element of each {@linkcode ElementType}. */
export const ELEMENT_BYTES: Readonly<Record<ElementType, number>> = { f32: 4, f16: 2, bf16: 2 };

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

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
  return out;
}

/** One part of a row-split matrix: rows firstRow..firstRow+rows-1 in their own buffer. */
export interface MatrixPart {
  readonly buffer: GPUBuffer;
  readonly firstRow: number;
  readonly rows: number;
}

/** A [rows, cols] matrix on the GPU in its stored element type, split by rows across bindings. */
export interface GpuMatrix {
  readonly type: ElementType;
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly MatrixPart[];
}

/**
 * Uploads a row-major [rows, cols] matrix from a host view (e.g. a memory map), one part at a
 * time with a flushing submit, so host memory never holds a second copy. Parts hold at most
 * `maxBindingBytes`; each starts at an even element so packed halves stay word-aligned.
 */
export function uploadMatrix(
  device: GPUDevice,
  bytes: Uint8Array<ArrayBuffer>,
  shape: { type: ElementType; rows: number; cols: number; maxBindingBytes: number; label: string },
): GpuMatrix {
  const { type, rows, cols, maxBindingBytes, label } = shape;
  const rowBytes = cols * ELEMENT_BYTES[type];
  let perPart = Math.floor((maxBindingBytes - 16) / rowBytes);
  if (perPart < 2) {
    throw new Error(
      `${label}: a row of ${rowBytes} bytes exceeds the binding size ${maxBindingBytes}`,
    );
  }
  if (cols % 2 === 1) perPart -= perPart % 2;
  const parts: MatrixPart[] = [];
  for (let firstRow = 0; firstRow < rows; firstRow += perPart) {
    const n = Math.min(perPart, rows - firstRow);
    const buffer = storageBuffer(
      device,
      n * rowBytes,
      parts.length ? `${label}[${parts.length}]` : label,
    );
    writeBytes(device, buffer, 0, bytes.subarray(firstRow * rowBytes, (firstRow + n) * rowBytes));
    device.queue.submit([]);
    parts.push({ buffer, firstRow, rows: n });
  }
  return { type, rows, cols, parts };
}
