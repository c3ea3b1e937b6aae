/** Assertions without JSR: equality, throwing with a message, and closeness where NaN fails. */

/** Throws unless `actual` deep-equals `expected` (compared as JSON). */
export function assertEquals(actual: unknown, expected: unknown, msg = ""): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Error(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
}

/** Throws unless `cond` holds. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Throws unless `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, msg = ""): void {
  if (!pattern.test(text)) {
    throw new Error(`${msg ? msg + ": " : ""}${JSON.stringify(text)} does not match ${pattern}`);
  }
}

/** Runs `fn`, requires it to throw an instance of `cls` whose message includes every `parts`. */
export function assertThrows(
  fn: () => unknown,
  cls: new (...args: never[]) => Error,
  ...parts: string[]
): Error {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${e}`);
    for (const p of parts) {
      if (!e.message.includes(p)) throw new Error(`message "${e.message}" lacks "${p}"`);
    }
    if (e.message.includes("\n")) throw new Error(`message is not one line: ${e.message}`);
    return e;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

/** Awaits `fn()`, requires it to reject with an instance of `cls` whose message includes `parts`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  cls: new (...args: never[]) => Error,
  ...parts: string[]
): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${e}`);
    for (const p of parts) {
      if (!e.message.includes(p)) throw new Error(`message "${e.message}" lacks "${p}"`);
    }
    return;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

/**
 * Relative error ‖a−e‖/‖e‖ must be ≤ `rtol`; any NaN/Inf in `actual` fails. Reports the worst index.
 */
export function assertRelClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  msg = "",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${msg}: length ${actual.length}, expected ${expected.length}`);
  }
  let [num, den, worst, worstAt] = [0, 0, 0, -1];
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i]! - expected[i]!;
    if (!Number.isFinite(actual[i]!)) {
      throw new Error(`${msg}: actual[${i}] is ${actual[i]} (expected ${expected[i]})`);
    }
    num += d * d;
    den += expected[i]! * expected[i]!;
    if (Math.abs(d) > worst) [worst, worstAt] = [Math.abs(d), i];
  }
  const rel = Math.sqrt(num) / Math.sqrt(den || 1);
  if (!(rel <= rtol)) {
    throw new Error(
      `${msg}: relative error ${rel.toExponential(3)} > ${rtol}; worst at [${worstAt}]: ${
        actual[worstAt]
      } vs ${expected[worstAt]}`,
    );
  }
}
