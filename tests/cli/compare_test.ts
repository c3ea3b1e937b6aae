import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture, goldens } from "../_fixtures.ts";

Deno.test("wgllama compare --json: q8 tracks the stored weights more closely than q4", async () => {
  const ids = goldens("tiny-f32").sequences.find((s) => s.ids.length === 64)!.ids.join(",");
  const run = async (w: string) => {
    const r = await wgllama([
      "compare",
      fixture("tiny-f32"),
      "--weights",
      w,
      "--ids",
      ids,
      "--json",
    ]);
    assertEquals(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const [q8, q4] = [await run("q8"), await run("q4")];
  for (const j of [q8, q4]) {
    assertEquals(j.positions, 64);
    assert(
      j.top1_agreement >= 0 && j.top1_agreement <= 1 && j.mean_kl > 0 && j.max_abs_logit_error > 0,
      JSON.stringify(j),
    );
  }
  assert(
    q8.mean_kl < q4.mean_kl / 10 && q8.top1_agreement >= q4.top1_agreement,
    `${JSON.stringify(q8)} ${JSON.stringify(q4)}`,
  );
  assertEquals((await wgllama(["compare", fixture("tiny-f32"), "--ids", ids])).code, 2);
});
