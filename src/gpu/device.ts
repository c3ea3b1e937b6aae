/**
 * Acquiring the WebGPU device: the adapter's maxima for the limits we rely on (the defaults are
 * far lower), the optional features we can use, and workgroup sizes chosen for the adapter.
 * @module
 */
import { InputError } from "../errors.ts";

/** Limits requested at the adapter's maximum. */
const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
] as const;

/** Optional features requested when the adapter offers them (timestamps for `bench --profile`). */
const FEATURES = ["timestamp-query"] as const;

/** Workgroup sizes per kind of kernel (WGSL `override WG`), chosen for the adapter. */
export interface WorkgroupSizes {
  /** Matrix–vector products: one row per workgroup. */
  readonly matvec: number;
  /** Row reductions (norms) and attention. */
  readonly reduce: number;
  /** Element-wise kernels. */
  readonly elementwise: number;
  /** Decode attention (flash-decoding over the cache). */
  readonly attention: number;
  /** Keys per workgroup in decode attention (≤ 2048 / group size). */
  readonly attentionSplit: number;
  /** The sampler's workgroup: one per sequence, its threads split the vocabulary. */
  readonly sample: number;
}

/** An opened device with what we learned about it. */
export interface Gpu {
  readonly device: GPUDevice;
  readonly info: GPUAdapterInfo;
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  /** True for CPU implementations (Mesa lavapipe/llvmpipe, SwiftShader). */
  readonly software: boolean;
  readonly workgroups: WorkgroupSizes;
}

/**
 * The first GPU error no error scope caught, per device: a kernel that failed to compile (they
 * compile at their first dispatch), a bad command. WebGPU reports it nowhere else, and the work
 * after it is void, so `readBuffer` throws it rather than return that work.
 */
const failures = new WeakMap<GPUDevice, GPUError>();

/** The device's first uncaught GPU error, if any. */
export function uncaughtError(device: GPUDevice): GPUError | undefined {
  return failures.get(device);
}

/** Opens the default adapter's device, or explains how to get one. */
export async function openGpu(): Promise<Gpu> {
  // Mesa's window-system probe complains on stderr when XDG_RUNTIME_DIR is unset. We draw no
  // windows: point it at an existing folder while the adapter is found (nothing is created there,
  // and nothing needs write access), then put the environment back.
  const unset = Deno.build.os === "linux" && !Deno.env.get("XDG_RUNTIME_DIR");
  if (unset) Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") || "/tmp");
  let adapter: GPUAdapter | null | undefined;
  try {
    adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  } finally {
    if (unset) Deno.env.delete("XDG_RUNTIME_DIR");
  }
  if (!adapter) {
    throw new InputError(
      "No WebGPU adapter found: install a GPU driver with Vulkan support, or on Linux without a GPU " +
        "Mesa's software renderer: apt-get install -y mesa-vulkan-drivers libvulkan1",
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({
    requiredLimits,
    requiredFeatures,
    label: "wgllama",
  });
  device.addEventListener("uncapturederror", (e) => {
    if (!failures.has(device)) failures.set(device, (e as GPUUncapturedErrorEvent).error);
  });
  const info = adapter.info;
  const software = info.isFallbackAdapter ||
    /llvmpipe|lavapipe|swiftshader/i.test(info.description);
  return {
    device,
    info,
    features: new Set([...device.features]),
    limits: device.limits,
    software,
    // On lavapipe each workgroup runs as a CPU loop; narrow groups beat wide ones by 4–8× (matvec:
    // invocations that each own 8 rows, see Ops). Decode attention takes as many keys per workgroup
    // as its scores fit (2048 / group): a launch costs ~50 µs there, so one split (no combine
    // launch) beats spreading the keys over more workgroups than there are cores.
    workgroups: software
      ? { matvec: 8, reduce: 16, elementwise: 64, attention: 8, attentionSplit: 2048, sample: 256 }
      : {
        matvec: 128,
        reduce: 128,
        elementwise: 256,
        attention: 64,
        attentionSplit: 256,
        sample: 256,
      },
  };
}

/** What the default adapter offers, as `wgllama gpu` shows it; the device is closed again. */
export async function describeGpu() {
  const g = await openGpu();
  try {
    const limits: Record<string, number> = {};
    for (const key in g.limits) {
      const v = g.limits[key as keyof GPUSupportedLimits];
      if (typeof v === "number") limits[key] = v;
    }
    return {
      description: g.info.description,
      vendor: g.info.vendor,
      architecture: g.info.architecture,
      device: g.info.device,
      software: g.software,
      features: [...g.features].sort(),
      workgroups: g.workgroups,
      limits,
    };
  } finally {
    g.device.destroy();
  }
}
