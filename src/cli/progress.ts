/**
 * Progress on stderr: a redrawn bar on a terminal; elsewhere (a log file, a CI job, systemd) a
 * plain line at least every {@linkcode QUIET_SECONDS}, so a long run never looks hung.
 */

/** The longest a non-terminal stderr goes without a progress line. */
export const QUIET_SECONDS = 10;

/** Where and when progress is drawn (the defaults are the process's; tests give their own). */
export interface ProgressOptions {
  terminal?: boolean;
  now?: () => number;
  write?: (text: string) => void;
}

const encoder = new TextEncoder();

/**
 * Returns a progress callback (done/total bytes, or tokens). On a terminal it redraws a bar; on
 * anything else it prints a line once {@linkcode QUIET_SECONDS} have passed since the start or the
 * last line, and a last one at the end if it printed any.
 */
export function progressBar(
  label: string,
  unit: "bytes" | "tokens" = "bytes",
  options: ProgressOptions = {},
): (done: number, total: number) => void {
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  const now = options.now ?? (() => performance.now());
  const write = options.write ??
    ((text: string) => void Deno.stderr.writeSync(encoder.encode(text)));
  const t0 = now();
  let last = terminal ? 0 : t0;
  let printed = false;
  return (done, total) => {
    const t = now();
    const every = terminal ? 100 : QUIET_SECONDS * 1000;
    if (done < total && t - last < every) return;
    if (done >= total && !terminal && !printed) return; // quick: nothing to report
    last = t;
    printed = true;
    const frac = total ? done / total : 1;
    const rate = done / Math.max(1e-3, (t - t0) / 1000);
    const amount = unit === "bytes"
      ? `${(done / 1e9).toFixed(2)}/${(total / 1e9).toFixed(2)} GB ${(rate / 1e9).toFixed(2)} GB/s`
      : `${done}/${total} tokens ${rate.toFixed(1)} tokens/s`;
    const percent = `${(frac * 100).toFixed(0).padStart(3)}%`;
    if (!terminal) return write(`${label} ${percent} ${amount}\n`);
    const bar = "█".repeat(Math.round(frac * 30)).padEnd(30, "░");
    const line = `\r${label} ${bar} ${percent} ${amount}`;
    write(done >= total ? line + "\n" : line);
  };
}
