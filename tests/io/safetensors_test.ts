import { InputError } from "../../src/errors.ts";
import { MappedFile } from "../../src/io/mmap.ts";
import { firstNonFinite, readSafetensorsHeader, TensorStore } from "../../src/io/safetensors.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { encodeSafetensors, f32Bytes, tempFolder, withHeader } from "../_safetensors.ts";
import { tempDir } from "../_temp.ts";

function headerOf(bytes: Uint8Array) {
  const dir = tempFolder({ "x.safetensors": bytes });
  const file = MappedFile.open(`${dir}/x.safetensors`);
  try {
    return readSafetensorsHeader(file).map(({ name, dtype, shape, offset, byteLength }) => ({
      name,
      dtype,
      shape,
      offset,
      byteLength,
    }));
  } finally {
    file.close();
  }
}

Deno.test("TensorStore round-trips tensors written by the test writer", () => {
  const a = f32Bytes([1.5, -2, 3.25, 4, 5, 6]);
  const b = new Uint8Array([0x80, 0x3f, 0x00, 0x40]); // bf16 1.0, 2.0
  const dir = tempFolder({
    "m.safetensors": encodeSafetensors({
      a: { dtype: "F32", shape: [2, 3], data: a },
      b: { dtype: "BF16", shape: [2], data: b },
      empty: { dtype: "F16", shape: [0, 4], data: new Uint8Array(0) },
    }, { format: "pt" }),
  });
  const store = TensorStore.openFile(`${dir}/m.safetensors`);
  try {
    const ta = store.tensors.get("a")!;
    assertEquals([ta.dtype, ta.shape], ["F32", [2, 3]]);
    assertEquals([...new Float32Array(store.bytes(ta).slice().buffer)], [1.5, -2, 3.25, 4, 5, 6]);
    assertEquals([...store.bytes(store.tensors.get("b")!)], [...b]);
    assertEquals(store.bytes(store.tensors.get("empty")!).length, 0);
    assertEquals(store.tensors.size, 3);
  } finally {
    store.close();
  }
});

const ok = (extra: object = {}) => ({
  t: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
  ...extra,
});
const data8 = [new Uint8Array(8)];

const MALFORMED: [string, Uint8Array, string[]][] = [
  ["empty file", new Uint8Array(0), ["0 bytes", "at least 8"]],
  ["short file", new Uint8Array(5), ["5 bytes"]],
  [
    "header length past EOF",
    (() => {
      const b = withHeader("{}");
      new DataView(b.buffer).setBigUint64(0, 1000n, true);
      return b;
    })(),
    ["header length 1000"],
  ],
  [
    "absurd header length",
    (() => {
      const b = withHeader("{}", [new Uint8Array(16)]);
      new DataView(b.buffer).setBigUint64(0, 0xffff_ffff_ffffn, true);
      return b;
    })(),
    ["header length 281474976710655"],
  ],
  ["header not JSON", withHeader("{not json"), ["not valid JSON"]],
  ["header not an object", withHeader("[1,2]"), ["must be a JSON object"]],
  ["entry not an object", withHeader(`{"t": 3}`), [`"t"`, "must be an object"]],
  [
    "unknown dtype",
    withHeader(JSON.stringify({ t: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }), data8),
    [
      `"t"`,
      `unknown dtype "Q4"`,
    ],
  ],
  [
    "unsupported dtype",
    withHeader(JSON.stringify({ t: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }), data8),
    [`"t"`, `unsupported dtype "I64"`],
  ],
  [
    "missing dtype",
    withHeader(JSON.stringify({ t: { shape: [2], data_offsets: [0, 8] } }), data8),
    [
      `"t"`,
      "dtype undefined",
    ],
  ],
  [
    "negative shape",
    withHeader(JSON.stringify({ t: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }), data8),
    ["shape [-2]"],
  ],
  [
    "fractional shape",
    withHeader(JSON.stringify({ t: { dtype: "F32", shape: [1.5], data_offsets: [0, 8] } }), data8),
    ["shape [1.5]"],
  ],
  [
    "string shape",
    withHeader(JSON.stringify({ t: { dtype: "F32", shape: ["2"], data_offsets: [0, 8] } }), data8),
    [`shape ["2"]`],
  ],
  [
    "reversed offsets",
    withHeader(JSON.stringify({ t: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }), data8),
    ["[8, 0]", "end is before begin"],
  ],
  [
    "negative offsets",
    withHeader(JSON.stringify({ t: { dtype: "F32", shape: [2], data_offsets: [-8, 0] } }), data8),
    ["data_offsets [-8,0]"],
  ],
  [
    "offsets out of range",
    withHeader(
      JSON.stringify(ok({ u: { dtype: "F32", shape: [2], data_offsets: [8, 16] } })),
      data8,
    ),
    [
      `"u"`,
      "past the end of the data (8 bytes)",
    ],
  ],
  ["truncated data", withHeader(JSON.stringify(ok()), [new Uint8Array(5)]), ["truncated"]],
  [
    "shape/size mismatch",
    withHeader(JSON.stringify({ t: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }), data8),
    [
      "must span 12 bytes",
      "current span is 8 bytes",
    ],
  ],
  [
    "overlapping tensors",
    withHeader(
      JSON.stringify(ok({ u: { dtype: "F32", shape: [1], data_offsets: [4, 8] } })),
      data8,
    ),
    [`"t"`, `"u"`, "overlap"],
  ],
];

for (const [label, bytes, parts] of MALFORMED) {
  Deno.test(`readSafetensorsHeader() refuses ${label} with one clear line`, () => {
    assertThrows(() => headerOf(bytes), InputError, "x.safetensors", ...parts);
  });
}

Deno.test("readSafetensorsHeader() accepts __metadata__ and a zero-size tensor sharing an offset", () => {
  const b = withHeader(
    JSON.stringify(
      ok({
        __metadata__: { format: "pt" },
        z: { dtype: "BF16", shape: [0], data_offsets: [4, 4] },
      }),
    ),
    data8,
  );
  assertEquals(headerOf(b).map((t) => t.name).sort(), ["t", "z"]);
});

Deno.test("TensorStore.openIndex() loads shards and refuses a missing shard", () => {
  const shard = (name: string, v: number) =>
    encodeSafetensors({ [name]: { dtype: "F32", shape: [1], data: f32Bytes([v]) } });
  const dir = tempFolder({ "a.safetensors": shard("x", 1), "b.safetensors": shard("y", 2) });
  const store = TensorStore.openIndex(`${dir}/index.json`, {
    x: "a.safetensors",
    y: "b.safetensors",
  });
  try {
    assertEquals(store.files.length, 2);
    assertEquals([...new Float32Array(store.bytes(store.tensors.get("y")!).slice().buffer)], [2]);
  } finally {
    store.close();
  }
  assertThrows(
    () => TensorStore.openIndex(`${dir}/index.json`, { x: "a.safetensors", y: "c.safetensors" }),
    InputError,
    "c.safetensors",
    "listed in",
  );
  assertThrows(
    () => TensorStore.openIndex(`${dir}/index.json`, { x: "a.safetensors", y: "a.safetensors" }),
    InputError,
    `"y"`,
  );
});

Deno.test("MappedFile maps a >4 GiB sparse file and reads a tensor at its end without paging it in", () => {
  const dir = tempDir();
  const path = `${dir}/big.safetensors`;
  const size = 5 * 1024 ** 3 + 12;
  const tail = f32Bytes([3.5, -1.25, 42]);
  const dataBytes = size - 8 - 128; // a 128-byte JSON header, then the data region
  const header = JSON.stringify({
    big: { dtype: "F32", shape: [3], data_offsets: [dataBytes - 12, dataBytes] },
  }).padEnd(128, " ");
  const f = Deno.openSync(path, { create: true, write: true, truncate: true });
  f.writeSync(withHeader(header));
  f.truncateSync(size); // sparse: no blocks allocated for the hole
  f.seekSync(size - 12, Deno.SeekMode.Start);
  f.writeSync(tail);
  f.close();
  const rssBefore = rssBytes();
  const store = TensorStore.openFile(path);
  try {
    const t = store.tensors.get("big")!;
    assert(t.offset > 2 ** 32, `offset ${t.offset} should be past 4 GiB`);
    assertEquals([...new Float32Array(store.bytes(t).slice().buffer)], [3.5, -1.25, 42]);
    const grown = rssBytes() - rssBefore;
    assert(grown < 256 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  } finally {
    store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

function rssBytes(): number {
  return Deno.memoryUsage().rss;
}

Deno.test("MappedFile.release() drops touched pages from resident memory, the view stays readable", () => {
  const dir = tempDir();
  const path = `${dir}/data.bin`;
  const size = 96 << 20;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) bytes[i] = (i >> 12) & 0xff;
  Deno.writeFileSync(path, bytes);
  const file = MappedFile.open(path);
  try {
    const view = file.view(0, size);
    let sum = 0;
    for (let i = 0; i < size; i += 4096) sum += view[i]!; // page everything in
    const touched = rssBytes();
    file.release(0, size);
    const released = rssBytes();
    assert(touched - released > (64 << 20), `RSS fell by only ${touched - released} bytes`);
    let again = 0;
    for (let i = 0; i < size; i += 4096) again += view[i]!;
    assertEquals(again, sum);
  } finally {
    file.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("firstNonFinite finds the first NaN or infinity in f32, f16 and bf16, aligned or not", () => {
  const f32 = new Float32Array([1, -2, 3.4e38, 0, Infinity, NaN]);
  assertEquals(firstNonFinite(new Uint8Array(f32.buffer), "F32"), 4);
  const f16 = Float16Array.from([65504, -65504, 0.5, 1, 2, -Infinity, 3]);
  assertEquals(firstNonFinite(new Uint8Array(f16.buffer), "F16"), 5);
  const bf16 = new Uint16Array([0x3f80, 0x7f7f, 0xff7f, 0x0000, 0x7fc0]); // 1, ±max, 0, NaN
  assertEquals(firstNonFinite(new Uint8Array(bf16.buffer), "BF16"), 4);
  assertEquals(firstNonFinite(new Uint8Array(bf16.buffer, 0, 8), "BF16"), -1);
  // A view that does not start on a 4-byte boundary (a tensor right after an odd-sized one).
  const shifted = new Uint8Array(12);
  shifted.set(new Uint8Array(bf16.buffer), 2);
  assertEquals(firstNonFinite(shifted.subarray(2, 12), "BF16"), 4);
  assertEquals(firstNonFinite(shifted.subarray(2, 10), "BF16"), -1);
  // Every element position of a word is seen: a NaN in the high half of the first word.
  assertEquals(firstNonFinite(new Uint8Array(new Uint16Array([0, 0x7c01]).buffer), "F16"), 1);
});
