/**
 * `inspect` on a Llama-3-8B-sized folder (real config, sparse 16 GB bf16 safetensors in 4 shards):
 * proves that only headers are read. Run: deno task bench
 */
import { expectedTensors } from "../src/model/tensors.ts";
import { parseLlamaConfig } from "../src/model/config.ts";
import { LLAMA3_8B } from "../tests/_configs.ts";

const dir = Deno.makeTempDirSync({ prefix: "wgllama_8b_" });
Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(LLAMA3_8B));
const tensors = expectedTensors(parseLlamaConfig(LLAMA3_8B));
const SHARDS = 4;
const weightMap: Record<string, string> = {};
for (let s = 0; s < SHARDS; s++) {
  const name = `model-0000${s + 1}-of-0000${SHARDS}.safetensors`;
  const mine = tensors.filter((_, i) => i % SHARDS === s);
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of mine) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: "BF16", shape: t.shape, data_offsets: [offset, offset + bytes] };
    weightMap[t.name] = name;
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const f = Deno.openSync(`${dir}/${name}`, { create: true, write: true });
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  f.writeSync(len);
  f.writeSync(json);
  f.truncateSync(8 + json.length + offset);
  f.close();
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
