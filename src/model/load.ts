/** loadModel: folder or hub id → validated checkpoint → GPU weights → {@linkcode Llama}. */
import { type Gpu, openGpu } from "../gpu/device.ts";
import { InputError } from "../errors.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { inspectCheckpoint } from "./inspect.ts";
import { Llama, type LoadOptions } from "./llama.ts";
import type { QuantFormat } from "../gpu/buffers.ts";

/** A loaded model with its generation defaults and the time the upload took. */
export interface LoadedModel {
  readonly model: Llama;
  readonly dir: string;
  readonly generation: ReturnType<typeof openCheckpoint>["generation"];
  readonly loadSeconds: number;
  readonly weightBytes: number;
}

/** Opens `spec`, uploads its weights to `gpu` (default: a new device) and unmaps the files. */
export async function loadModel(
  spec: string,
  options: Omit<LoadOptions, "weights"> & {
    gpu?: Gpu;
    weights?: "bf16" | QuantFormat | undefined;
  } = {},
): Promise<LoadedModel> {
  const ckpt = openCheckpoint(spec);
  try {
    const { weights } = options;
    if (weights === "bf16") {
      const other = [...ckpt.weights!.tensors.values()].find((t) => t.dtype !== "BF16");
      if (other) {
        throw new InputError(
          `--weights bf16: tensor "${other.name}" is stored as ${other.dtype}; converting is not supported (omit --weights, or use q8/q4)`,
        );
      }
    }
    const gpu = options.gpu ?? await openGpu();
    const t0 = performance.now();
    gpu.device.pushErrorScope("out-of-memory");
    gpu.device.pushErrorScope("validation");
    const model = await Llama.load(ckpt, gpu, {
      ...options,
      weights: weights === "bf16" ? undefined : weights,
    });
    const invalid = await gpu.device.popErrorScope();
    const oom = await gpu.device.popErrorScope();
    if (oom) {
      throw new InputError(
        `The GPU ran out of memory loading ${ckpt.dir} (${
          inspectCheckpoint(ckpt, model.contextLength).memory.total
        } bytes of weights and KV cache as stored): lower --ctx, use --weights q8 or q4, or a smaller model`,
      );
    }
    if (invalid) throw new Error(`GPU validation failed while loading: ${invalid.message}`);
    await gpu.device.queue.onSubmittedWorkDone();
    const weightBytes = [...ckpt.weights!.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
    return {
      model,
      dir: ckpt.dir,
      generation: ckpt.generation,
      loadSeconds: (performance.now() - t0) / 1000,
      weightBytes,
    };
  } finally {
    ckpt.close();
  }
}
