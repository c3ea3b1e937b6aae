import { InputError } from "../../src/errors.ts";
import {
  BUILTIN_MODEL,
  builtinModelDir,
  defaultModel,
  hubCacheDir,
  openWeights,
  resolveModelDir,
} from "../../src/io/hf_folder.ts";
import { MappedFile } from "../../src/io/mmap.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { tempFolder } from "../_safetensors.ts";
import { tempDir } from "../_temp.ts";

Deno.test("hubCacheDir() follows HF_HUB_CACHE, then HF_HOME, then ~/.cache", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assertEquals(hubCacheDir(env({ HF_HUB_CACHE: "/a", HF_HOME: "/b", HOME: "/h" })), "/a");
  assertEquals(hubCacheDir(env({ HF_HOME: "/b", HOME: "/h" })), "/b/hub");
  assertEquals(hubCacheDir(env({ HOME: "/h" })), "/h/.cache/huggingface/hub");
});

Deno.test("resolveModelDir() finds org/name in a hub cache through refs/main", () => {
  const cache = tempDir();
  const repo = `${cache}/models--meta-llama--Llama-3.2-1B`;
  Deno.mkdirSync(`${repo}/snapshots/abc123`, { recursive: true });
  Deno.mkdirSync(`${repo}/snapshots/old456`, { recursive: true });
  Deno.mkdirSync(`${repo}/refs`);
  Deno.writeTextFileSync(`${repo}/refs/main`, "abc123\n");
  assertEquals(resolveModelDir("meta-llama/Llama-3.2-1B", cache), `${repo}/snapshots/abc123`);
  assertThrows(
    () => resolveModelDir("meta-llama/Other", cache),
    InputError,
    "meta-llama/Other",
    "never downloads",
  );
  assertThrows(
    () => resolveModelDir("/no/such/dir/at/all", cache),
    InputError,
    "/no/such/dir/at/all",
  );
  Deno.writeTextFileSync(`${repo}/refs/main`, "gone");
  assertThrows(() => resolveModelDir("meta-llama/Llama-3.2-1B", cache), InputError, "no snapshot");
});

Deno.test("openWeights() refuses a bad index", () => {
  const notJson = tempFolder({ "model.safetensors.index.json": "{oops" });
  assertThrows(
    () => openWeights(notJson),
    InputError,
    "model.safetensors.index.json",
    "not valid JSON",
  );
  const noMap = tempFolder({ "model.safetensors.index.json": { metadata: {} } });
  assertThrows(() => openWeights(noMap), InputError, "weight_map");
  const escape = tempFolder({
    "model.safetensors.index.json": { weight_map: { a: "../x.safetensors" } },
  });
  assertThrows(() => openWeights(escape), InputError, "../x.safetensors");
  const missing = tempFolder({
    "model.safetensors.index.json": { weight_map: { a: "m-1.safetensors" } },
  });
  assertThrows(() => openWeights(missing), InputError, "m-1.safetensors", "missing");
  assertEquals(openWeights(tempFolder({})), undefined);
});

Deno.test("defaultModel() is $WGLLAMA_MODEL, else the built-in model", () => {
  assertEquals(defaultModel(() => undefined), "stories-260k");
  assertEquals(defaultModel((k) => k === "WGLLAMA_MODEL" ? "/m" : undefined), "/m");
  assertEquals(defaultModel(() => ""), "stories-260k");
});

Deno.test("resolveModelDir(): a folder, then the hub cache, then the built-in model's name", () => {
  const builtin = builtinModelDir();
  assertEquals(resolveModelDir(BUILTIN_MODEL, tempDir()), builtin);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "README.md"]) {
    assert(Deno.statSync(`${builtin}/${f}`).isFile, f);
  }
  const cwd = Deno.cwd();
  const here = tempDir();
  Deno.mkdirSync(`${here}/${BUILTIN_MODEL}`);
  Deno.chdir(here);
  try {
    assertEquals(resolveModelDir(BUILTIN_MODEL), BUILTIN_MODEL); // an existing folder wins
  } finally {
    Deno.chdir(cwd);
  }
  assertThrows(() => resolveModelDir("stories-261k"), InputError, "stories-261k", BUILTIN_MODEL);
});

Deno.test("MappedFile.read(): the path of embedded files gives the bytes a map gives", () => {
  const path = `${builtinModelDir()}/model.safetensors`;
  const mapped = MappedFile.open(path);
  const read = MappedFile.read(path);
  assertEquals(read.size, mapped.size);
  assertEquals(read.view(1000, 4096), mapped.view(1000, 4096));
  read.release(0, read.size); // nothing to drop: still readable
  assertEquals(read.view(0, 8), mapped.view(0, 8));
  read.close();
  mapped.close();
  assertThrows(() => MappedFile.read("/no/such/file"), InputError, "/no/such/file");
});
