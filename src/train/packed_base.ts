/**
 * The frozen base of QLoRA training, packed on the GPU as `--weights` packs it for inference
 * (lm_head and the embedding in q8 under q5/q4) and read back to f32 only where a product needs
 * it: a slice of one matrix's rows at a time (64 MiB), just before its forward or backward
 * product. Gradients then flow through exactly the packed weights' values.
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import {
  type GpuMatrix,
  type PackFormat,
  storageBuffer,
  Uploader,
  uploadMatrix,
} from "../gpu/buffers.ts";
import type { Bindable } from "../gpu/launcher.ts";
import type { Ops } from "../gpu/ops.ts";
import type { TrainOps } from "../gpu/train_ops.ts";

/** Bytes of a matrix's rows read back at a time (at most a binding). */
export const SLICE_BYTES = 64 << 20;

/** The fused matrices of a decoder layer, as trained tensors name them (`N.qkv`, …). */
export const LAYER_MATRICES = ["qkv", "o", "gate_up", "down"] as const;
export type LayerMatrix = (typeof LAYER_MATRICES)[number];

/** Which layer matrix a trained tensor's name is, if it is one. */
export function layerMatrix(name: string): LayerMatrix | undefined {
  const part = name.slice(name.indexOf(".") + 1);
  return /^\d+\./.test(name) && (LAYER_MATRICES as readonly string[]).includes(part)
    ? part as LayerMatrix
    : undefined;
}

/** The format a tensor is packed in under a `format` base; undefined: it stays f32 (norms). */
export function packedAs(name: string, format: PackFormat): PackFormat | undefined {
  if (layerMatrix(name)) return format;
  if (name === "embed" || name === "lm_head") return format === "bf16" ? "bf16" : "q8";
  return undefined;
}

/** A packed, frozen base on one device. */
export class PackedBase {
  private constructor(
    readonly matrices: ReadonlyMap<string, GpuMatrix>,
    /** A slice of a matrix's rows read back as f32. */
    readonly scratch: GPUBuffer,
    readonly ops: Ops,
  ) {}

  /**
   * Packs `tensors` (f32 [rows, cols] by trained-tensor name) in the formats {@linkcode packedAs}
   * gives; a weight the format cannot hold (beyond f16's range) is refused in one line. Matrices
   * are read back `sliceBytes` of rows at a time.
   */
  static async pack(
    gpu: Gpu,
    ops: Ops,
    tensors: ReadonlyMap<string, { host: Float32Array<ArrayBuffer>; rows: number; cols: number }>,
    format: PackFormat,
    sliceBytes = SLICE_BYTES,
  ): Promise<PackedBase> {
    const { device } = gpu;
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const uploader = new Uploader(device);
    const matrices = new Map<string, GpuMatrix>();
    let [widest, largest] = [1, 4];
    for (const [name, t] of tensors) {
      const as = packedAs(name, format)!;
      const bytes = new Uint8Array(t.host.buffer, t.host.byteOffset, t.host.byteLength);
      matrices.set(
        name,
        await uploadMatrix(uploader, bytes, {
          type: "f32",
          cols: t.cols,
          maxBindingBytes: limit,
          label: name,
          pack: { format: as, part: ops.packer(as, "f32") },
        }),
      );
      widest = Math.max(widest, t.cols);
      largest = Math.max(largest, t.rows * t.cols * 4);
    }
    await uploader.flush();
    uploader.release();
    const unusable = await ops.unquantizable();
    if (unusable !== undefined) {
      throw new InputError(
        `${unusable}: holds a weight beyond ±65504 (or not finite), which a ${format} base cannot represent: train without --weights`,
      );
    }
    const slice = Math.max(Math.min(sliceBytes, limit, largest), widest * 4);
    return new PackedBase(matrices, storageBuffer(device, slice, "base.unpacked"), ops);
  }

  /**
   * A linear layer's product with the packed W [rows, cols], read back a slice of rows at a time:
   * "forward": to (+)= from·Wᵀ (from [tokens, cols], to [tokens, rows]; with `accumulate`, added,
   * as into a residual); "input gradient": to = from·W (from = dy [tokens, rows], to = dx
   * [tokens, cols], overwritten).
   */
  product(
    pass: GPUComputePassEncoder,
    train: TrainOps,
    w: GpuMatrix,
    io: { from: Bindable; to: Bindable; tokens: number },
    what: "forward" | "input gradient",
    accumulate = false,
  ): void {
    const { rows, cols } = w;
    const per = Math.max(1, Math.floor(this.scratch.size / (cols * 4)));
    const { from, to, tokens: T } = io;
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      this.ops.dequantize(w, this.scratch, { first: r0, rows: n }).record(pass, 1);
      const step = what === "forward"
        // to[t, r0 + j] (+)= Σ_i from[t, i]·W[r0 + j, i]
        ? train.gemm(from, this.scratch, to, [T, n, cols], [cols, 1, cols, 1, rows], accumulate, [
          0,
          0,
          r0,
        ])
        // to[t, i] (+)= Σ_j from[t, r0 + j]·W[r0 + j, i], the first slice overwriting
        : train.gemm(from, this.scratch, to, [T, cols, n], [rows, 1, 1, cols, cols], r0 > 0, [
          r0,
          0,
          0,
        ]);
      step(pass);
    }
  }

  /** Bytes on the GPU: the packed matrices and the read-back buffer. */
  get bytes(): number {
    let n = this.scratch.size;
    for (const m of this.matrices.values()) {
      for (const p of m.parts) n += p.buffer.size + (p.scales?.size ?? 0);
    }
    return n;
  }

  /** Frees every buffer. */
  destroy(): void {
    for (const m of this.matrices.values()) {
      for (const p of m.parts) [p.buffer, p.scales].forEach((b) => b?.destroy());
    }
    this.scratch.destroy();
  }
}
