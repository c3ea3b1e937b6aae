/** Enforces the one-way layering: cli → generate, train → model → gpu / io; errors.ts imports nothing. */
import { assert } from "./_assert.ts";

const SRC = new URL("../src/", import.meta.url).pathname;
/** Which src/ folders each layer may import (besides itself and errors.ts). */
const ALLOWED: Record<string, string[]> = {
  cli: ["generate", "train", "serve", "model", "text", "gpu", "io"],
  serve: ["generate", "text"],
  generate: ["model", "text"],
  train: ["model", "text", "gpu", "io"],
  model: ["gpu", "io"],
  text: [],
  gpu: [],
  io: [],
};

function* sources(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(p);
    else if (p.endsWith(".ts")) yield p;
  }
}

Deno.test("src/ imports flow one way between layers", () => {
  for (const file of sources(SRC.replace(/\/$/, ""))) {
    const rel = file.slice(SRC.length);
    const layer = rel.includes("/") ? rel.split("/")[0]! : "";
    const text = Deno.readTextFileSync(file);
    for (const m of text.matchAll(/from\s+"(\.[^"]+)"/g)) {
      const target = new URL(m[1]!, `file://${file}`).pathname;
      if (target.endsWith("/src/errors.ts")) continue;
      if (layer === "") throw new Error(`${rel} must import nothing but is importing ${m[1]}`);
      if (target.startsWith(`${SRC}${layer}/`)) continue;
      if (layer === "gpu" && target.includes("/kernels/")) continue;
      const targetLayer = target.slice(SRC.length).split("/")[0]!;
      assert(
        target.startsWith(SRC) && ALLOWED[layer]!.includes(targetLayer),
        `${rel} (layer ${layer}) must not import ${m[1]}`,
      );
    }
    if (layer !== "cli") {
      assert(
        !/Deno\.(exit|stdout|stderr|stdin)|console\./.test(text),
        `${rel} touches the terminal`,
      );
    }
  }
});
