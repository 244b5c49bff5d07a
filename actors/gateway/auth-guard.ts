// The gateway's auth guard: who may reach each access level (origin checks, the session proof, the local API token).
import { serveOp } from '../../bus/op-ref.js';
import { authManifest } from '../../runtime/catalog.js';
import type { BusClient } from '../../bus/client.js';
import type { Guard, RouteContext } from './http.js';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { bearerMatches, corsHeaders, localClientOrigin, requireSameOrigin, type LocalApiPolicy } from './origin-check.js';

export const SESSION_COOKIE = 'secai_session';


/** The session id from the Cookie header, or undefined (never a guess from elsewhere: no query strings). */
export function sessionCookie(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === SESSION_COOKIE) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * HttpOnly: page scripts cannot read it; SameSite=Strict: other sites' pages do not send it; Path=/.
 * No Secure: the gateway serves plain http on loopback only, and a Secure cookie would never be sent.
 * Cookies are not port-isolated: every local port receives this one, so it is never enough alone
 * (the guard also wants the session's proof token, which only our page holds).
 */
export function setSessionCookie(c: RouteContext, sessionId: string, expiresAt: number): void {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  c.res.setHeader('set-cookie', `${SESSION_COOKIE}=${sessionId}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`);
}

export function clearSessionCookie(c: RouteContext): void {
  c.res.setHeader('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
}

/** Asks the auth actor: nothing is cached here, so a revocation acts at once. The proof header travels on every method. */
function validateSession(bus: BusClient, c: RouteContext): Promise<unknown> {
  const sessionId = sessionCookie(c.req);
  const csrf = c.req.headers['x-csrf-token'];
  return bus.call(serveOp(authManifest, 'validate'), {
    ...(sessionId !== undefined && { sessionId: sessionId.slice(0, 64) }),
    ...(typeof csrf === 'string' && { csrf: csrf.slice(0, 128) }),
  });
}

export interface GuardOptions {
  /** The port the gateway listens on (its own origins). */
  port: () => number;
  localApi: LocalApiPolicy;
}

/**
 * session: our own origin only, and cookie + proof token on every method (the cookie alone is nothing:
 * every port of 127.0.0.1 receives it). public /api/ routes (sign-in): our own origin only.
 * local-client: our own page, allowlisted origins or programs (the routes take JSON bodies only); the
 * API token when the policy sets one (our own page may show its session instead).
 */
export function authGuard(bus: BusClient, o: GuardOptions): Guard {
  return async (access, c) => {
    const port = o.port();
    if (access === 'public') {
      if (c.url.pathname.startsWith('/api/')) requireSameOrigin(c.req, port);
      return;
    }
    if (access === 'session') {
      requireSameOrigin(c.req, port);
      await validateSession(bus, c);
      return;
    }
    const foreign = localClientOrigin(c.req, port, o.localApi);
    if (foreign !== undefined) for (const [k, v] of Object.entries(corsHeaders(foreign))) c.res.setHeader(k, v);
    // A preflight carries no token and no body: an allowlisted origin is told what it may send, nothing runs.
    if (c.req.method === 'OPTIONS') return;
    const want = o.localApi.api_token_sha256;
    if (want === null || bearerMatches(c.req, want)) return;
    if (foreign === undefined && c.req.headers['x-csrf-token'] !== undefined) {
      await validateSession(bus, c);
      return;
    }
    throw new SecaiError(ErrorCode.UNAUTHORIZED, 'this API needs the token the policy names (Authorization: Bearer <token>)');
  };
}
