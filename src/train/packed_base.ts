/**
 * The frozen base of QLoRA training, packed on the GPU as `--weights` packs it for inference
 * (lm_head and the embedding in q8 under q5/q4) and read back to f32 only where a product needs
 * it: one layer matrix at a time, just before its forward or backward product, and lm_head a
 * slice of rows at a time. Gradients then flow through exactly the packed weights' values.
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

/** Bytes of lm_head's rows read back at a time. */
export const VOCAB_SLICE = 64 << 20;

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
    /** One layer matrix read back as f32. */
    readonly layerScratch: GPUBuffer,
    /** A slice of lm_head's rows read back as f32 (none when lm_head is not packed). */
    readonly vocabScratch: GPUBuffer | undefined,
    readonly ops: Ops,
  ) {}

  /**
   * Packs `tensors` (f32 [rows, cols] by trained-tensor name) in the formats {@linkcode packedAs}
   * gives; a weight the format cannot hold (beyond f16's range) is refused in one line.
   */
  static async pack(
    gpu: Gpu,
    ops: Ops,
    tensors: ReadonlyMap<string, { host: Float32Array<ArrayBuffer>; rows: number; cols: number }>,
    format: PackFormat,
    vocabSlice = VOCAB_SLICE,
  ): Promise<PackedBase> {
    const { device } = gpu;
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const uploader = new Uploader(device);
    const matrices = new Map<string, GpuMatrix>();
    let largest = 1;
    let vocabScratch: GPUBuffer | undefined;
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
      if (layerMatrix(name)) largest = Math.max(largest, t.rows * t.cols);
      else {
        const slice = Math.min(vocabSlice, limit);
        vocabScratch ??= storageBuffer(device, slice - slice % (t.cols * 4), "vocab.unpacked");
      }
    }
    await uploader.flush();
    uploader.release();
    const unusable = await ops.unquantizable();
    if (unusable !== undefined) {
      throw new InputError(
        `${unusable}: holds a weight beyond ±65504 (or not finite), which a ${format} base cannot represent: train without --weights`,
      );
    }
    return new PackedBase(
      matrices,
      storageBuffer(device, largest * 4, "layer.unpacked"),
      vocabScratch,
      ops,
    );
  }

  /** Records layer l's `kind` read back into {@linkcode layerScratch}, to be used next. */
  unpack(pass: GPUComputePassEncoder, l: number, kind: LayerMatrix): void {
    const m = this.matrices.get(`${l}.${kind}`);
    if (m) this.ops.dequantize(m, this.layerScratch).record(pass, 1);
  }

  /**
   * A packed lm_head W [V, D] (of `w`), read back a slice of rows at a time: "logits":
   * logits[:, v] = h·W[v]ᵀ; "dh": h = dlogits·W (the logits buffer holding their gradient).
   */
  head(
    pass: GPUComputePassEncoder,
    train: TrainOps,
    w: GpuMatrix,
    io: { h: Bindable; logits: GPUBuffer; tokens: number },
    what: "logits" | "dh",
  ): void {
    const [V, D] = [w.rows, w.cols];
    const scratch = this.vocabScratch!;
    const rows = Math.max(1, Math.floor(scratch.size / (D * 4)));
    const { h, logits, tokens } = io;
    for (let v0 = 0; v0 < V; v0 += rows) {
      const n = Math.min(rows, V - v0);
      this.ops.dequantize(w, scratch, { first: v0, rows: n }).record(pass, 1);
      const product = what === "logits"
        ? train.gemm(h, scratch, logits, [tokens, n, D], [D, 1, D, 1, V], false, [0, 0, v0])
        : train.gemm(logits, scratch, h, [tokens, D, n], [V, 1, 1, D, D], v0 > 0, [v0, 0, 0]);
      product(pass);
    }
  }

  /** Frees every buffer. */
  destroy(): void {
    for (const m of this.matrices.values()) {
      for (const p of m.parts) [p.buffer, p.scales].forEach((b) => b?.destroy());
    }
    this.layerScratch.destroy();
    this.vocabScratch?.destroy();
  }
}
