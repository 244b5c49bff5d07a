// Session state as the gateway's auth routes report it (GET /api/auth/status), and the proof token login/setup hand out.
import { api, ApiError, setCsrf } from './api.js';

export type AuthState =
  | { kind: 'loading' }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'setup' }
  | { kind: 'login' }
  | { kind: 'in' };

/** The auth API names its token `csrfToken` or `csrf`; either is taken, nothing else is guessed. */
export function takeCsrf(reply: unknown): void {
  const r = (reply ?? {}) as { csrfToken?: unknown; csrf?: unknown };
  const t = typeof r.csrfToken === 'string' ? r.csrfToken : typeof r.csrf === 'string' ? r.csrf : undefined;
  if (t !== undefined) setCsrf(t);
}

export async function authState(): Promise<AuthState> {
  try {
    // The status route never hands out the proof (any local port receives our cookie): it only says
    // whether this tab's proof still names a live session. A stale one is dropped.
    const s = await api<{ initialized?: boolean; loggedIn?: boolean }>('GET', '/api/auth/status');
    if (!s.loggedIn) setCsrf('');
    if (s.initialized === false) return { kind: 'setup' };
    return s.loggedIn ? { kind: 'in' } : { kind: 'login' };
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      return { kind: 'unavailable', reason: 'This appliance has no sign-in installed, so the session API stays closed (fail closed).' };
    }
    return { kind: 'unavailable', reason: err instanceof Error ? err.message : String(err) };
  }
}
