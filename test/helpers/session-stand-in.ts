// Test helper: a stand-in for the auth actor's session guard (cookie + proof header on every request) and its status route, for UI tests.
import { randomBytes } from 'node:crypto';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { sendJson, type Guard, type Route } from '../../actors/gateway/http.js';

export interface StandInSession {
  cookie: { name: string; value: string };
  /** The session proof (x-csrf-token), as login hands it out: a browser test seeds it with `seedScript`. */
  token: string;
  /** For page.addInitScript / context.addInitScript: puts the proof where the UI keeps it (sessionStorage). */
  seedScript: string;
  guard: Guard;
  /** GET /api/auth/status as the UI reads it: signed in only with the cookie AND the proof; never returns the proof. */
  statusRoute: Route;
}

export function standInSession(): StandInSession {
  const value = randomBytes(16).toString('hex');
  const csrf = randomBytes(16).toString('hex');
  const has = (h: string | undefined) => (h ?? '').split(/;\s*/).includes(`secai_test=${value}`);
  return {
    cookie: { name: 'secai_test', value },
    token: csrf,
    seedScript: `sessionStorage.setItem('secai.csrf', ${JSON.stringify(csrf)})`,
    guard: (access, c) => {
      if (access !== 'session') return;
      if (!has(c.req.headers.cookie)) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no session');
      if (c.req.headers['x-csrf-token'] !== csrf) throw new SecaiError(ErrorCode.CSRF, 'bad session proof');
    },
    statusRoute: {
      method: 'GET', path: '/api/auth/status', access: 'public',
      handler: ({ req, res }) => sendJson(res, 200, { initialized: true, loggedIn: has(req.headers.cookie) && req.headers['x-csrf-token'] === csrf }),
    },
  };
}
