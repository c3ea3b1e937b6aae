/**
 * What keeps a served model to its intended callers: browsers on other sites and DNS-rebinding
 * pages are refused, CORS preflights answered for allowed origins, API keys compared in constant
 * time, and every response tagged with a request id.
 * @module
 */
import { ApiError } from "./openai.ts";

/**
 * Refuses what a browser on another site, or a DNS-rebinding page, could send: an Origin not
 * in --cors-origin, and (bound to loopback) a Host that names another machine.
 */
export function checkCaller(
  request: Request,
  origin: string | null,
  corsAllowed: boolean,
  options: { loopback?: boolean; corsOrigins?: readonly string[] },
): void {
  if (options.loopback) {
    const host = request.headers.get("host");
    const name = host?.replace(/:\d+$/, "").toLowerCase();
    if (host !== null && !["localhost", "127.0.0.1", "[::1]"].includes(name!)) {
      throw new ApiError(
        403,
        `Host '${host}' is not this server: it listens on loopback (localhost, 127.0.0.1, [::1])`,
        undefined,
        null,
        "forbidden_host",
      );
    }
  }
  if (origin !== null && !corsAllowed) {
    throw new ApiError(
      403,
      `Origin '${origin}' may not call this server: start it with --cors-origin ${origin}`,
      undefined,
      null,
      "forbidden_origin",
    );
  }
}

/** The answer to a CORS preflight from an allowed origin. */
export function preflight(request: Request): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ??
        "authorization, content-type",
      "access-control-max-age": "600",
    },
  });
}

/** The client's x-request-id when it is a sane token, else a new one. */
export function requestIdOf(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given && /^[\x21-\x7e]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/** SHA-256 of a key: compared digest to digest, the time taken says nothing of the key. */
export async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Equal bytes, compared in time that depends only on their length. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
