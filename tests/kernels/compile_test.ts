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
