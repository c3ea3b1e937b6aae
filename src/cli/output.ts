/** The CLI's writers: stdout carries results only; everything else goes to stderr. */

const encoder = new TextEncoder();

/** Writes text to stdout, completely. */
export function out(text: string): void {
  writeAll(Deno.stdout, encoder.encode(text));
}

/** Writes a line to stderr. */
export function err(line: string): void {
  writeAll(Deno.stderr, encoder.encode(line + "\n"));
}

function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) off += w.writeSync(bytes.subarray(off));
}

/** Human-readable bytes (binary units). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return `${i === 0 ? n : n.toFixed(2)} ${units[i]}`;
}

/** Integer with thousands separators. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
