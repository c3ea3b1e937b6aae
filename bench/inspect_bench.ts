/**
 * `inspect` on a Llama-3-8B-sized folder (real config, sparse 16 GB bf16 safetensors in 4 shards):
 * proves that only headers are read. Run: deno task bench
 */
import { expectedTensors } from "../src/model/tensors.ts";
import { parseLlamaConfig } from "../src/model/config.ts";
import { writeSafetensors } from "../src/io/safetensors_writer.ts";
import { syntheticConfig } from "../src/model/synthetic.ts";

const LLAMA3_8B = syntheticConfig("8b");

const dir = Deno.makeTempDirSync({ prefix: "wgllama_8b_" });
Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(LLAMA3_8B));
const tensors = expectedTensors(parseLlamaConfig(LLAMA3_8B));
const SHARDS = 4;
const weightMap: Record<string, string> = {};
for (let s = 0; s < SHARDS; s++) {
  const name = `model-0000${s + 1}-of-0000${SHARDS}.safetensors`;
  const mine = tensors.filter((_, i) => i % SHARDS === s).map((t) => ({ ...t, dtype: "BF16" }));
  for (const t of mine) weightMap[t.name] = name;
  writeSafetensors(`${dir}/${name}`, mine); // sparse: only the header is written
}
Deno.writeTextFileSync(
  `${dir}/model.safetensors.index.json`,
  JSON.stringify({ weight_map: weightMap }),
);

const main = new URL("../main.ts", import.meta.url).pathname;
const times: number[] = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const r = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-ffi", "--allow-env", main, "inspect", dir, "--json"],
    stdout: "piped",
  }).outputSync();
  times.push(performance.now() - t0);
  if (!r.success) throw new Error("inspect failed");
  if (i === 0) {
    console.log(
      `total parameters: ${JSON.parse(new TextDecoder().decode(r.stdout)).parameters.total}`,
    );
  }
}
times.sort((a, b) => a - b);
console.log(
  `wgllama inspect (8B folder, 16 GB sparse bf16, 4 shards), whole process: median ${
    times[2]!.toFixed(0)
  } ms, min ${times[0]!.toFixed(0)} ms`,
);
Deno.removeSync(dir, { recursive: true });
