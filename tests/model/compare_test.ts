import { compareLogits } from "../../src/model/compare.ts";
import { InputError } from "../../src/errors.ts";
import { assert, assertEquals } from "../_assert.ts";

Deno.test("compareLogits: identical logits agree with zero KL; a NaN is an error, not a NaN KL", () => {
  const a = Float32Array.from([1, 2, 3, 0, -1, 5]); // 2 positions of 3
  const same = compareLogits(a, a.slice(), 3);
  assertEquals([same.top1Agreement, same.meanKl, same.maxAbsLogitError, same.positions], [
    1,
    0,
    0,
    2,
  ]);
  const flipped = compareLogits(a, Float32Array.from([3, 2, 1, 0, -1, 5]), 3);
  assert(flipped.top1Agreement === 0.5 && flipped.meanKl > 0, JSON.stringify(flipped));
  const nan = Float32Array.from([1, 2, 3, 0, NaN, 5]);
  for (const [ref, test] of [[a, nan], [nan, a]]) {
    let thrown: unknown;
    try {
      compareLogits(ref!, test!, 3);
    } catch (e) {
      thrown = e;
    }
    assert(
      thrown instanceof InputError && thrown.message.includes("position 1 (token 1)"),
      String(thrown),
    );
  }
});
