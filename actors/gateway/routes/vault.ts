// Vault and emergency routes (session only). Passphrase-bearing calls go through the auth actor's throttle.
import { serveOp } from '../../../bus/op-ref.js';
import { authManifest, vaultManifest } from '../../../runtime/catalog.js';
import { readJson, sendJson, type Route, type RouteContext } from '../http.js';
import type { GatewayDeps } from '../deps.js';
import { sessionCookie } from '../auth-guard.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';

const sid = (c: RouteContext) => (sessionCookie(c.req) ?? '').slice(0, 64);

export function vaultRoutes(d: GatewayDeps): Route[] {
  return [
    { method: 'GET', path: '/api/vault/status', access: 'session', handler: async (c) => sendJson(c.res, 200, await d.bus.call(serveOp(vaultManifest, 'status'), {})) },
    { method: 'POST', path: '/api/vault/lock', access: 'session', handler: async (c) => sendJson(c.res, 200, await d.bus.call(serveOp(vaultManifest, 'lock'), {})) },
    {
      method: 'POST', path: '/api/vault/unlock', access: 'session',
      handler: async (c) => {
        const b = await readJson<{ passphrase?: unknown }>(c.req, 8192);
        if (typeof b.passphrase !== 'string' || !b.passphrase) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'passphrase is required');
        sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'unlock'), { sessionId: sid(c), passphrase: b.passphrase }, 30_000));
      },
    },
    {
      method: 'POST', path: '/api/emergency/panic', access: 'session',
      handler: async (c) => {
        const b = await readJson<{ level?: unknown; passphrase?: unknown; confirm?: unknown }>(c.req, 8192);
        if (b.level !== 1 && b.level !== 2 && b.level !== 3) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'level must be 1, 2 or 3');
        const args = {
          sessionId: sid(c), level: b.level,
          ...(typeof b.passphrase === 'string' && { passphrase: b.passphrase }),
          ...(typeof b.confirm === 'boolean' && { confirm: b.confirm }),
        };
        sendJson(c.res, 200, await d.bus.call(serveOp(authManifest, 'panic'), args, 60_000));
      },
    },
  ];
}
