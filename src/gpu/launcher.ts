/**
 * Compiling kernels and binding them: the pipeline cache, the shared `frame` uniform every kernel
 * binds at 0, parameter uniforms and scratch buffers shared by equal requests. The launch builders
 * ({@linkcode Ops}, {@linkcode TrainOps}) sit on one Launcher, so they share the frame.
 * @module
 */
import type { Gpu } from "./device.ts";
import { storageBuffer, uniformBuffer } from "./buffers.ts";
import type { Kernel } from "./kernels.ts";

/** Largest workgroup size the reduction kernels' workgroup arrays hold. */
export const MAX_WIDTH = 256;

/** A whole buffer, or a range of one (offset a multiple of 256 bytes). */
export type Bindable = GPUBuffer | GPUBufferBinding;

/** Words of a parameter uniform: u32, or f32 where marked. */
export type Params = (number | { f32: number })[];

/** Records `workgroups` workgroups of a bound kernel (`rows`: an explicit second dimension). */
export type Dispatch = (pass: GPUComputePassEncoder, workgroups: number, rows?: number) => void;

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Compiled pipelines, bind groups and parameter buffers for one device. */
export class Launcher {
  /** Uniform { tokens } shared by every kernel; written once per forward. */
  readonly frame: GPUBuffer;
  readonly #gpu: Gpu;
  readonly #pipelines = new Map<string, Compiled>();
  readonly #params = new Map<string, GPUBuffer>();
  readonly #shared = new Map<string, GPUBuffer>();

  constructor(gpu: Gpu) {
    this.#gpu = gpu;
    this.frame = uniformBuffer(gpu.device, [0], "frame");
  }

  /** Sets how many tokens the next submit runs. */
  setFrame(tokens: number): void {
    this.#gpu.device.queue.writeBuffer(this.frame, 0, Uint32Array.of(tokens));
  }

  /**
   * A bind group for `kernel` over [frame, ...resources] (null where the kernel has no binding);
   * returns a recorder for n workgroups. The pipeline is compiled when first recorded, not here: a
   * load prepares every launch, and kernels a run never uses (a prompt length's strategy,
   * sampling's drawing passes, log-probabilities) cost no compile (~10–110 ms each on lavapipe).
   * One that fails to compile is reported by the next read (`readBuffer`, device.ts `uncaughtError`).
   */
  launch(
    kernel: Kernel,
    wg: number | undefined,
    resources: (Bindable | null)[],
    constants: Record<string, number> = {},
  ): Dispatch {
    if (wg !== undefined && (wg > MAX_WIDTH || (wg & (wg - 1)) !== 0)) {
      throw new Error(`workgroup size ${wg} must be a power of two ≤ ${MAX_WIDTH}`);
    }
    let bound: { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup } | undefined;
    const bind = () => {
      const { pipeline, layout } = this.#pipeline(kernel, wg, constants);
      const bindGroup = this.#gpu.device.createBindGroup({
        label: kernel.name,
        layout,
        entries: [this.frame, ...resources].flatMap((r, binding) =>
          r === null ? [] : [{ binding, resource: r instanceof GPUBuffer ? { buffer: r } : r }]
        ),
      });
      return { pipeline, bindGroup };
    };
    const maxX = this.#gpu.limits.maxComputeWorkgroupsPerDimension;
    /** `rows`: an explicit second dimension (the kernel reads it); else large counts are folded. */
    return (pass: GPUComputePassEncoder, workgroups: number, rows?: number) => {
      if (workgroups === 0) return;
      const { pipeline, bindGroup } = bound ??= bind();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      if (rows !== undefined) pass.dispatchWorkgroups(workgroups, rows);
      else if (workgroups <= maxX) pass.dispatchWorkgroups(workgroups);
      else pass.dispatchWorkgroups(maxX, Math.ceil(workgroups / maxX));
    };
  }

  /** A compiled kernel with workgroup size `wg` and other override `constants`. */
  #pipeline(
    kernel: Kernel,
    wg: number | undefined,
    constants: Record<string, number>,
  ): Compiled {
    const key = `${kernel.name}/${wg}/${JSON.stringify(constants)}`;
    let compiled = this.#pipelines.get(key);
    if (!compiled) {
      const { device } = this.#gpu;
      const layout = device.createBindGroupLayout({
        label: kernel.name,
        entries: kernel.bindings.flatMap((kind, binding) =>
          kind === null ? [] : [{
            binding,
            visibility: GPUShaderStage.COMPUTE,
            buffer: {
              type: kind === "uniform"
                ? "uniform" as const
                : kind === "read"
                ? "read-only-storage" as const
                : "storage" as const,
            },
          }]
        ),
      });
      const module = device.createShaderModule({ label: kernel.name, code: kernel.source });
      const pipeline = device.createComputePipeline({
        label: kernel.name,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: {
          module,
          entryPoint: "main",
          constants: wg === undefined ? constants : { ...constants, WG: wg },
        },
      });
      compiled = { pipeline, layout };
      this.#pipelines.set(key, compiled);
    }
    return compiled;
  }

  /** A scratch storage buffer shared by every launch that asks for the same size and label. */
  scratch(bytes: number, label: string): GPUBuffer {
    const key = `${label}/${bytes}`;
    let buffer = this.#shared.get(key);
    if (!buffer) {
      buffer = storageBuffer(this.#gpu.device, bytes, label);
      this.#shared.set(key, buffer);
    }
    return buffer;
  }

  uniform(words: Params): GPUBuffer {
    const key = JSON.stringify(words);
    let buffer = this.#params.get(key);
    if (!buffer) {
      buffer = uniformBuffer(this.#gpu.device, words, "params");
      this.#params.set(key, buffer);
    }
    return buffer;
  }
}
