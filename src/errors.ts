/**
 * The two kinds of error a user can cause, and how every error becomes one line and an exit code.
 * This module imports nothing, so every layer may use it.
 * @module
 */

/** A bad file, folder or value supplied by the user: message names file, field, value, expected. */
export class InputError extends Error {
  override name = "InputError";
}

/** A bad command line: unknown flag, missing argument, malformed option value. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Process exit codes (130 and 143: stopped by SIGINT or SIGTERM, as shells report them). */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

/** Turns any thrown value into the one line we print and the exit code we return. */
export function describeError(err: unknown, debug = false): { line: string; code: number } {
  if (err instanceof UsageError) return { line: `wgllama: ${err.message}`, code: EXIT.usage };
  if (err instanceof InputError) {
    return { line: `wgllama: error: ${err.message}`, code: EXIT.error };
  }
  const detail = err instanceof Error
    ? (debug ? err.stack ?? err.message : err.message)
    : String(err);
  return { line: `wgllama: internal error: ${detail}`, code: EXIT.error };
}
