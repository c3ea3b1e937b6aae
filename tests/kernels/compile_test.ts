import { readBuffer, uploadArray } from "../../src/gpu/buffers.ts";
import { openGpu } from "../../src/gpu/device.ts";
import { allKernels } from "../../src/gpu/kernels.ts";
import { assert, assertEquals } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const DIR = new URL("../../kernels/", import.meta.url).pathname;

/** Every .wgsl file below kernels/, as a path relative to it. */
function wgslFiles(dir = ""): string[] {
  return [...Deno.readDirSync(DIR + dir)].flatMap((e) =>
    e.isDirectory ? wgslFiles(`${dir}${e.name}/`) : e.name.endsWith(".wgsl") ? [dir + e.name] : []
  ).sort();
}

Deno.test("every kernels/ file is documented and used; every kernel compiles with its bindings in order", async () => {
  const { gpu } = await testGpu();
  const kernels = allKernels();
  const sources = kernels.map((k) => k.source);
  for (const file of wgslFiles()) {
    const text = Deno.readTextFileSync(DIR + file);
    const name = file.replace(".wgsl", "");
    assert(
      text.startsWith(`// ${name}: `),
      `${file} must start with "// ${name}: <what it computes>"`,
    );
    // Op bodies say how they are dispatched; a shared, format or packing part need not.
    const parts = file.includes("/")
      ? ["// Bindings (group 0):", "// Precision:"]
      : ["// Bindings (group 0):", "// Dispatch:", "// Precision:"];
    for (const part of parts) assert(text.includes(part), `${file} header lacks "${part}"`);
    assert(sources.some((s) => s.includes(text)), `${file} is not part of any kernel`);
  }
  for (const kernel of kernels) {
    // A format may view one binding two ways (each entry point uses one view): count it once.
    const bindings = [
      ...new Set(kernel.source.matchAll(/@binding\((\d+)\)/g).map((m) => Number(m[1]))),
    ]
      .sort((a, b) => a - b);
    assertEquals(
      bindings,
      kernel.bindings.flatMap((kind, i) => kind === null ? [] : [i]),
      `${kernel.name} bindings`,
    );
    const module = gpu.device.createShaderModule({ code: kernel.source, label: kernel.name });
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
    assertEquals(errors.map((m) => m.message), [], `${kernel.name} compilation errors`);
  }
});

Deno.test("a kernel that fails at its first dispatch voids the next read: readBuffer throws, one line", async () => {
  // A device of its own: the failure stays with the device that had it.
  const gpu = await openGpu();
  try {
    const out = uploadArray(gpu.device, new Float32Array([1]), "out");
    await readBuffer(gpu.device, out, 4); // a healthy device reads
    // A pipeline over an invalid shader (as a kernel compiled lazily could be), dispatched.
    const module = gpu.device.createShaderModule({
      code: "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }",
    });
    const pipeline = gpu.device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.dispatchWorkgroups(1);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    const error = await readBuffer(gpu.device, out, 4).then(() => undefined, (e: Error) => e);
    assert(error?.message.startsWith("GPU error: "), String(error));
    assert(!error!.message.includes("\n"), error!.message);
  } finally {
    gpu.device.destroy();
  }
});
