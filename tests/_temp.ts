/**
 * Temp files and folders for tests, removed when the test module ends (its `unload` event), so
 * a run leaves nothing behind even when an assertion fails halfway (`deno task test` checks).
 * @module
 */
const made: string[] = [];

function track(path: string): string {
  if (made.length === 0) {
    globalThis.addEventListener("unload", () => {
      for (const p of made.splice(0)) {
        try {
          Deno.removeSync(p, { recursive: true });
        } catch { /* removed by the test itself */ }
      }
    });
  }
  made.push(path);
  return path;
}

/** A new temp folder, removed with everything in it when the module's tests end. */
export function tempDir(options?: Deno.MakeTempOptions): string {
  return track(Deno.makeTempDirSync(options));
}

/** A new empty temp file, removed when the module's tests end. */
export function tempFile(options?: Deno.MakeTempOptions): string {
  return track(Deno.makeTempFileSync(options));
}
