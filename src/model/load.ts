/** loadModel: folder or hub id → validated checkpoint → GPU weights → {@linkcode Llama}. */
import { type Gpu, openGpu } from "../gpu/device.ts";
import { InputError } from "../errors.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { inspectCheckpoint } from "./inspect.ts";
import { Llama, type LoadOptions } from "./llama.ts";

/** A loaded model with its generation defaults and the time the upload took. */
export interface LoadedModel {
  readonly model: Llama;
  readonly dir: string;
  readonly generation: ReturnType<typeof openCheckpoint>["generation"];
  readonly loadSeconds: number;
  readonly weightBytes: number;
  /** Frees the model's GPU memory, and the device when `loadModel` opened it. Idempotent. */
  close(): void;
}

/**
 * Opens `spec`, uploads its weights to `gpu` (default: a new device) and unmaps the files.
 * `read` reads the weight files whole instead of mapping them (as embedded files are read).
 */
export async function loadModel(
  spec: string,
  options: LoadOptions & { gpu?: Gpu; read?: boolean } = {},
): Promise<LoadedModel> {
  const ckpt = openCheckpoint(spec, { read: options.read });
  try {
    const gpu = options.gpu ?? await openGpu();
    const ownDevice = options.gpu === undefined;
    const t0 = performance.now();
    gpu.device.pushErrorScope("out-of-memory");
    gpu.device.pushErrorScope("validation");
    const model = await Llama.load(ckpt, gpu, options);
    const invalid = await gpu.device.popErrorScope();
    const oom = await gpu.device.popErrorScope();
    if (oom) {
      const { weights } = options;
      const needed = inspectCheckpoint(ckpt, model.contextLength, { weights }).memory.total;
      const smaller = weights === "q4"
        ? ""
        : weights === "q5"
        ? ", --weights q4"
        : weights === "q8"
        ? ", --weights q5 or q4"
        : ", --weights q8, q5 or q4";
      throw new InputError(
        `The GPU ran out of memory loading ${ckpt.dir} (${
          (needed / 2 ** 30).toFixed(2)
        } GiB of weights and KV cache ${
          weights ? `at ${weights}` : "as stored"
        }): lower --ctx${smaller}, or a smaller model`,
      );
    }
    if (invalid) throw new Error(`GPU validation failed while loading: ${invalid.message}`);
    await gpu.device.queue.onSubmittedWorkDone();
    const weightBytes = [...ckpt.weights!.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
    let open = true;
    return {
      model,
      dir: ckpt.dir,
      generation: ckpt.generation,
      loadSeconds: (performance.now() - t0) / 1000,
      weightBytes,
      close() {
        if (!open) return;
        open = false;
        model.dispose();
        if (ownDevice) gpu.device.destroy();
      },
    };
  } finally {
    ckpt.close();
  }
}
