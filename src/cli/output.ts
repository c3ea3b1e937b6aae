/** The CLI's writers: stdout carries results only; everything else goes to stderr. */
import { InputError } from "../errors.ts";

const encoder = new TextEncoder();

/**
 * Writes text to stdout, completely. A reader that went away (BrokenPipe) passes through; any
 * other failure (a full disk, `> /dev/full`) is the user's, in one line.
 */
export function out(text: string): void {
  try {
    writeAll(Deno.stdout, encoder.encode(text));
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe || !(e instanceof Error)) throw e;
    throw new InputError(`Cannot write standard output: ${e.message}`);
  }
}

/**
 * Opens a file the user named for writing (appending, or from empty with `truncate`); a
 * permission or I/O failure is the user's, in one line naming the path and the cause.
 */
export function openOutput(path: string, options: { truncate?: boolean } = {}): Deno.FsFile {
  try {
    return Deno.openSync(path, {
      create: true,
      ...(options.truncate ? { write: true, truncate: true } : { append: true }),
    });
  } catch (e) {
    const why = e instanceof Deno.errors.NotCapable
      ? "wgllama was not given write access (deno run --allow-write)"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new InputError(`Cannot write ${path}: ${why}`);
  }
}

/**
 * Whether a file the user named may be written over: it does not exist, is empty, or its text is
 * one of ours (`ours`), such as a conversation saved before. Files over 64 MiB are not ours.
 */
export function mayReplace(path: string, ours: (text: string) => boolean): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw new InputError(`Cannot write ${path}: ${e instanceof Error ? e.message : e}`);
  }
  if (!info.isFile || info.size > 64 * 2 ** 20) return false;
  if (info.size === 0) return true; // nothing to lose
  try {
    return ours(Deno.readTextFileSync(path));
  } catch {
    return false;
  }
}

/** Writes `text` as the whole of a file the user named (failures in one line naming it). */
export function writeFileText(path: string, text: string): void {
  const file = openOutput(path, { truncate: true });
  try {
    writeOutput(file, path, encoder.encode(text));
  } finally {
    file.close();
  }
}

/** Writes all of `bytes` to a file opened with {@linkcode openOutput}. */
export function writeOutput(file: Deno.FsFile, path: string, bytes: Uint8Array): void {
  try {
    writeAll(file, bytes);
  } catch (e) {
    throw new InputError(`Cannot write ${path}: ${e instanceof Error ? e.message : e}`);
  }
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
