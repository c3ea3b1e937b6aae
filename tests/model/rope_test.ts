import { parseLlamaConfig } from "../../src/model/config.ts";
import { inverseFrequencies, ropeTables } from "../../src/model/rope.ts";
import { assertRelClose } from "../_assert.ts";
import { LLAMA32_1B } from "../_configs.ts";

const base = {
  ...LLAMA32_1B,
  hidden_size: 64,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  head_dim: 16,
  rope_theta: 500000,
};

Deno.test("inverseFrequencies() without scaling is theta^(-2j/d)", () => {
  const inv = inverseFrequencies(parseLlamaConfig({ ...base, rope_scaling: null }));
  assertRelClose(inv, [0, 1, 2, 3, 4, 5, 6, 7].map((j) => Math.pow(500000, -j / 8)), 1e-15);
});

Deno.test("inverseFrequencies() applies llama3 scaling: keep high, divide low, blend the band", () => {
  // original 64 positions, factor 8, low 1, high 4: wavelengths < 16 kept, > 64 divided by 8.
  const c = parseLlamaConfig({
    ...base,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    },
  });
  const f1 = Math.pow(500000, -1 / 8); // wavelength 2π/f1 ≈ 32.4: in the band
  const smooth = (64 / ((2 * Math.PI) / f1) - 1) / 3;
  const expected = [
    1,
    (1 - smooth) * f1 / 8 + smooth * f1,
    ...[2, 3, 4, 5, 6, 7].map((j) => Math.pow(500000, -j / 8) / 8),
  ];
  assertRelClose(inverseFrequencies(c), expected, 1e-15);
  const { cos, sin } = ropeTables(c, 3);
  assertRelClose(
    [cos[8 + 1]!, sin[16 + 1]!],
    [Math.cos(expected[1]!), Math.sin(2 * expected[1]!)],
    1e-7,
  );
});
