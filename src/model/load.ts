/** loadModel: folder or hub id → validated checkpoint → GPU weights → {@linkcode Llama}. */
import { type Gpu, openGpu } from "../gpu/device.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { Llama, type LoadOptions } from "./llama.ts";

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
  options: LoadOptions & { gpu?: Gpu } = {},
): Promise<LoadedModel> {
  const ckpt = openCheckpoint(spec);
  try {
    const gpu = options.gpu ?? await openGpu();
    const t0 = performance.now();
    const model = Llama.load(ckpt, gpu, options);
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
