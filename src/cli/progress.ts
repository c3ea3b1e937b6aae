/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */

/**
 * Returns a progress callback (done/total bytes, or tokens), or undefined when stderr is not a
 * TTY.
 */
export function progressBar(
  label: string,
  unit: "bytes" | "tokens" = "bytes",
): ((done: number, total: number) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  const t0 = performance.now();
  const enc = new TextEncoder();
  let last = 0;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < 100) return;
    last = now;
    const frac = total ? done / total : 1;
    const bar = "█".repeat(Math.round(frac * 30)).padEnd(30, "░");
    const rate = done / Math.max(1e-3, (now - t0) / 1000);
    const amount = unit === "bytes"
      ? `${(done / 1e9).toFixed(2)}/${(total / 1e9).toFixed(2)} GB ${(rate / 1e9).toFixed(2)} GB/s`
      : `${done}/${total} tokens ${rate.toFixed(1)} tokens/s`;
    const line = `\r${label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${amount}`;
    Deno.stderr.writeSync(enc.encode(done >= total ? line + "\n" : line));
  };
}
