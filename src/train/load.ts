/**
 * Opening a model folder for training: every HF tensor widened to f32 masters on the GPU.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { toF32 } from "../io/safetensors.ts";
import { type Checkpoint, openCheckpoint } from "../model/checkpoint.ts";
import { type LoraTraining, TrainableLlama } from "./trainable.ts";

/** Loads `spec` (folder or hub id) for training; returns the model and its checkpoint's facts. */
export function loadTrainable(
  gpu: Gpu,
  spec: string,
  options: { checkpointLayers?: boolean; headTokens?: number; lora?: LoraTraining } = {},
): { model: TrainableLlama; checkpoint: Omit<Checkpoint, "weights" | "close"> } {
  const ckpt = openCheckpoint(spec);
  try {
    const tensors = new Map<string, Float32Array>();
    for (const [name, t] of ckpt.weights!.tensors) {
      tensors.set(name, toF32(ckpt.weights!.finiteBytes(t), t.dtype));
    }
    const model = new TrainableLlama(gpu, ckpt.config, tensors, options);
    const { dir, config, generation, extraTensors } = ckpt;
    return { model, checkpoint: { dir, config, generation, extraTensors } };
  } finally {
    ckpt.close();
  }
}
