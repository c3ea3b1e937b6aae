import { KERNELS } from "../../src/gpu/kernels.ts";
import { assert, assertEquals } from "../_assert.ts";
import { testGpu } from "../_gpu.ts";

const DIR = new URL("../../kernels/", import.meta.url).pathname;

Deno.test("every kernels/*.wgsl is registered, documented and compiles without errors", async () => {
  const { gpu } = await testGpu();
  const files = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".wgsl"))
    .sort();
  const sources = new Map(Object.values(KERNELS).map((k) => [k.source, k]));
  assertEquals(
    files.length,
    Object.keys(KERNELS).length,
    "kernels registered in src/gpu/kernels.ts",
  );
  for (const file of files) {
    const source = Deno.readTextFileSync(DIR + file);
    const kernel = sources.get(source);
    assert(kernel, `${file} is not imported by src/gpu/kernels.ts`);
    const name = file.replace(".wgsl", "");
    assert(
      source.startsWith(`// ${name}: `),
      `${file} must start with "// ${name}: <what it computes>"`,
    );
    for (const part of ["// Bindings (group 0):", "// Dispatch:", "// Precision:"]) {
      assert(source.includes(part), `${file} header lacks "${part}"`);
    }
    const bindings = [...source.matchAll(/@binding\((\d+)\)/g)].map((m) => Number(m[1]));
    assertEquals(bindings, kernel.bindings.map((_, i) => i), `${file} bindings`);
    const module = gpu.device.createShaderModule({ code: source, label: file });
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
    assertEquals(errors.map((m) => m.message), [], `${file} compilation errors`);
  }
});
