/** Progress on a stderr that is not a terminal: a line at least every 10 s, nothing for quick work. */
import { assertEquals, assertMatch } from "../_assert.ts";
import { progressBar, QUIET_SECONDS } from "../../src/cli/progress.ts";
import { reporter } from "../../src/cli/train_run.ts";

/** A clock the test moves and the lines written, for progress off a terminal. */
function fakeStderr() {
  const s = { ms: 0, lines: [] as string[] };
  const options = { terminal: false, now: () => s.ms, write: (t: string) => void s.lines.push(t) };
  return { s, options };
}

Deno.test("progressBar off a terminal: a line once 10 s pass without one, a last line only if any was printed", () => {
  const quick = fakeStderr();
  const p1 = progressBar("Scoring", "tokens", quick.options);
  for (let done = 0; done <= 100; done += 10) (quick.s.ms += 100, p1(done, 100));
  assertEquals(quick.s.lines, []);
  const slow = fakeStderr();
  const p2 = progressBar("Scoring", "tokens", slow.options);
  for (let done = 1; done <= 100; done++) (slow.s.ms += 1000, p2(done, 100));
  // 100 s of calls a second apart: a line per 10 s, the last of them at the end.
  assertEquals(slow.s.lines.length, 100 / QUIET_SECONDS);
  assertMatch(slow.s.lines[0]!, /^Scoring {2}10% 10\/100 tokens 1\.0 tokens\/s\n$/);
  assertMatch(slow.s.lines.at(-1)!, /^Scoring 100% 100\/100 tokens/);
});

Deno.test("train's reporter off a terminal: every 5% of the run, and at least every 10 s", () => {
  const { s, options } = fakeStderr();
  const report = reporter(1000, options);
  // Steps of 3 s: 5% of the run (50 steps) is 150 s, so the 10 s rule decides.
  for (let step = 1; step <= 20; step++) (s.ms += 3000, report(step, 1.5, 100));
  assertEquals(s.lines.length, 5); // at 12, 24, 36, 48 and 60 s: steps 4, 8, 12, 16, 20
  assertMatch(s.lines[0]!, /^step 4\/1000 {2}loss 1\.5000/);
});
