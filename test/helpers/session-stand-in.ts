// Test helper: a stand-in for the auth actor's session guard (cookie + CSRF header) and its status route, for UI tests.
import { randomBytes } from 'node:crypto';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { sendJson, type Guard, type Route } from '../../actors/gateway/http.js';

export interface StandInSession {
  cookie: { name: string; value: string };
  guard: Guard;
  /** GET /api/auth/status as the UI reads it: signed in (with the CSRF token) only with the cookie. */
  statusRoute: Route;
}

export function standInSession(): StandInSession {
  const value = randomBytes(16).toString('hex');
  const csrf = randomBytes(16).toString('hex');
  const has = (h: string | undefined) => (h ?? '').split(/;\s*/).includes(`secai_test=${value}`);
  return {
    cookie: { name: 'secai_test', value },
    guard: (access, c) => {
      if (access !== 'session') return;
      if (!has(c.req.headers.cookie)) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no session');
      if (c.req.method !== 'GET' && c.req.headers['x-csrf-token'] !== csrf) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'bad csrf token');
    },
    statusRoute: {
      method: 'GET', path: '/api/auth/status', access: 'public',
      handler: ({ req, res }) => sendJson(res, 200, has(req.headers.cookie) ? { initialized: true, loggedIn: true, csrfToken: csrf } : { initialized: true, loggedIn: false }),
    },
  };
}
