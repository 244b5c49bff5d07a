// Which browser origins may reach which routes: the gateway's own origin for the UI API, plus an allowlist for the local model API.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, SecaiError } from '../../common/errors.js';

/** The policy.yaml `local_api` section (docs/inference.md). */
export interface LocalApiPolicy {
  /** Browser origins (`scheme://host[:port]`) that may call /v1/* and the Ollama routes, as OLLAMA_ORIGINS. */
  allowed_origins: readonly string[];
  /** SHA-256 (hex) of the bearer token local programs must send; null: no token asked. */
  api_token_sha256: string | null;
}

/** Fail closed: no foreign origin, no token configured. Used only where no policy was given (tests of the router). */
export const CLOSED_LOCAL_API: LocalApiPolicy = { allowed_origins: [], api_token_sha256: null };

/** The gateway's own origins: every loopback name its Host check accepts (hostAllowed). */
export function ownOrigins(port: number): string[] {
  return [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`];
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

const SAFE = new Set(['GET', 'HEAD']);

/**
 * The UI API and the sign-in routes: only our own page. Another port on 127.0.0.1 is another
 * origin but the SAME site (cookies and SameSite do not tell them apart), so `same-site` is refused
 * like `cross-site`. `none` is a navigation the person typed: harmless for GET, refused otherwise.
 * A plain process sends neither header and may forge both: the session proof, not this check, stops it.
 */
export function requireSameOrigin(req: IncomingMessage, port: number): void {
  const origin = header(req, 'origin');
  if (origin !== undefined && !ownOrigins(port).includes(origin)) {
    throw new SecaiError(ErrorCode.CROSS_ORIGIN, `requests from origin ${origin.slice(0, 100)} are refused`);
  }
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && !(site === 'none' && SAFE.has(req.method ?? ''))) {
    throw new SecaiError(ErrorCode.CROSS_ORIGIN, `a ${site.slice(0, 20)} browser request is refused: only the gateway's own page may call this route`);
  }
}

/**
 * The local model API: our own page, allowlisted origins, and programs (no Origin, no Sec-Fetch-Site).
 * Returns the allowlisted foreign origin to answer with CORS headers, or undefined.
 */
export function localClientOrigin(req: IncomingMessage, port: number, policy: LocalApiPolicy): string | undefined {
  const origin = header(req, 'origin');
  const site = header(req, 'sec-fetch-site');
  if (origin !== undefined) {
    if (ownOrigins(port).includes(origin)) return undefined;
    if (policy.allowed_origins.includes(origin)) return origin;
    throw new SecaiError(ErrorCode.CROSS_ORIGIN, `origin ${origin.slice(0, 100)} is not in policy local_api.allowed_origins`);
  }
  // A browser request without Origin (a no-cors GET from an <img>, a link): only our own page or a typed URL.
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new SecaiError(ErrorCode.CROSS_ORIGIN, `a ${site.slice(0, 20)} browser request without an allowlisted Origin is refused`);
  }
  return undefined;
}

/**
 * A JSON API body must say so: text/plain, form and multipart bodies are what a foreign page can send
 * without a CORS preflight, so refusing them means the browser must ask first, and is told no.
 */
export function requireJsonBody(req: IncomingMessage): void {
  const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new SecaiError(ErrorCode.BAD_MESSAGE, `Content-Type must be application/json, got '${type.slice(0, 60)}'`);
}

/** Whether the Authorization header carries the token whose SHA-256 the policy holds (compared in constant time). */
export function bearerMatches(req: IncomingMessage, sha256Hex: string): boolean {
  const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header(req, 'authorization') ?? '');
  if (!m) return false;
  const got = createHash('sha256').update(m[1]!, 'utf8').digest();
  const want = Buffer.from(sha256Hex, 'hex');
  return want.length === got.length && timingSafeEqual(got, want);
}

/** CORS answer for an allowlisted origin: it may read replies and send JSON with a token, nothing wider. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': 'content-type, authorization',
    'access-control-max-age': '600',
    vary: 'Origin',
  };
}
