// Sign-in routes: status, first-run setup, login, logout, passphrase change, sessions. The guard checks session routes.
import { serveOp } from '../../../bus/op-ref.js';
import { authManifest } from '../../../runtime/catalog.js';
import { readJson, sendJson, type Route, type RouteContext } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { clearSessionCookie, sessionCookie, setSessionCookie } from '../auth-guard.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';

/**
 * The device cookie gives a browser that once signed in its own login throttle ladder (docs/vault.md):
 * HttpOnly, SameSite=Strict, sent only to the sign-in routes. 400 days: the longest browsers keep one.
 */
const DEVICE_COOKIE = 'secai_device';
const deviceCookie = (c: RouteContext) => {
  for (const part of (c.req.headers.cookie ?? '').split(/;\s*/)) if (part.startsWith(`${DEVICE_COOKIE}=`)) return part.slice(DEVICE_COOKIE.length + 1).slice(0, 128);
  return undefined;
};
function addDeviceCookie(c: RouteContext, token: string): void {
  const prev = c.res.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  c.res.setHeader('set-cookie', [...list, `${DEVICE_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/api/auth; Max-Age=${400 * 86_400}`]);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || !v) throw new SecaiError(ErrorCode.BAD_MESSAGE, `${what} is required`);
  return v;
}

const sid = (c: RouteContext) => (sessionCookie(c.req) ?? '').slice(0, 64);

export function authRoutes(d: GatewayDeps): Route[] {
  // Setup and login set a fresh cookie; the reply body carries the session's proof token (the only place
  // it is ever sent: the page keeps it in sessionStorage), never the session id.
  const issue = async (c: RouteContext, op: 'setup' | 'login') => {
    const body = await readJson<{ passphrase?: unknown; setupCode?: unknown }>(c.req, 8192);
    const device = deviceCookie(c);
    const passphrase = str(body.passphrase, 'passphrase');
    const r = op === 'setup'
      ? await d.bus.call(serveOp(authManifest, 'setup'), {
        passphrase, ...(typeof body.setupCode === 'string' && { setupCode: body.setupCode.slice(0, 64) }), ...(device && { device }),
      }, 30_000)
      : await d.bus.call(serveOp(authManifest, 'login'), { passphrase, ...(device && { device }) }, 30_000);
    setSessionCookie(c, r.sessionId, r.expiresAt);
    if (r.device !== device) addDeviceCookie(c, r.device);
    sendJson(c.res, 200, { csrf: r.csrf, expiresAt: r.expiresAt });
  };
  return [
    {
      method: 'GET', path: '/api/auth/status', access: 'public',
      // loggedIn only with the cookie AND its proof; the proof itself is never in a reply here.
      handler: async (c) => {
        const s = sessionCookie(c.req);
        const proof = c.req.headers['x-csrf-token'];
        sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'status'), {
          ...(s && { sessionId: s.slice(0, 64) }),
          ...(typeof proof === 'string' && { csrf: proof.slice(0, 128) }),
        }));
      },
    },
    { method: 'POST', path: '/api/auth/setup', access: 'public', handler: (c) => issue(c, 'setup') },
    { method: 'POST', path: '/api/auth/login', access: 'public', handler: (c) => issue(c, 'login') },
    {
      method: 'POST', path: '/api/auth/logout', access: 'session',
      handler: async (c) => {
        await d.bus.call(serveOp(authManifest, 'logout'), { sessionId: sid(c) });
        clearSessionCookie(c);
        sendJson(c.res, 200, { ok: true });
      },
    },
    {
      method: 'POST', path: '/api/auth/change-passphrase', access: 'session',
      handler: async (c) => {
        const b = await readJson<{ old?: unknown; new?: unknown }>(c.req, 8192);
        sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'change_passphrase'), { sessionId: sid(c), old: str(b.old, 'old'), new: str(b.new, 'new') }, 60_000));
      },
    },
    { method: 'GET', path: '/api/auth/sessions', access: 'session', handler: async (c) => sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'sessions'), { sessionId: sid(c) })) },
    {
      method: 'DELETE', path: '/api/auth/sessions/:id', access: 'session',
      handler: async (c) => sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'revoke'), { sessionId: sid(c), handle: (c.params.id ?? '').slice(0, 32) })),
    },
  ];
}
