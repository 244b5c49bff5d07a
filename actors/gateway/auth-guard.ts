// The gateway's auth guard: session routes need a live session cookie, and state-changing methods its CSRF token.
import type { BusClient } from '../../bus/client.js';
import type { Guard, RouteContext } from './http.js';
import type { IncomingMessage } from 'node:http';

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
 */
export function setSessionCookie(c: RouteContext, sessionId: string, expiresAt: number): void {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  c.res.setHeader('set-cookie', `${SESSION_COOKIE}=${sessionId}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`);
}

export function clearSessionCookie(c: RouteContext): void {
  c.res.setHeader('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Asks the auth actor on every session request: nothing is cached here, so a revocation acts at once. */
export function authGuard(bus: BusClient): Guard {
  return async (access, c) => {
    if (access !== 'session') return;
    const sessionId = sessionCookie(c.req);
    const csrf = c.req.headers['x-csrf-token'];
    await bus.request('auth', 'validate', {
      ...(sessionId !== undefined && { sessionId: sessionId.slice(0, 64) }),
      ...(typeof csrf === 'string' && { csrf: csrf.slice(0, 128) }),
      needCsrf: !SAFE.has(c.req.method ?? ''),
    });
  };
}
