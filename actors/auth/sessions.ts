// Sessions of the web UI: 256-bit random ids kept only as SHA-256 hashes, expiry, idle timeout, and a proof token each.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface Session {
  /** Public name of a session (listing, revocation): not the id, and the id cannot be derived from it. */
  handle: string;
  /**
   * The session proof (sent as x-csrf-token): handed out once, in the login/setup reply body, and
   * required on EVERY request. The cookie is sent by the browser to every port of 127.0.0.1, so a
   * foreign local server receives it; this token lives only in our origin's page.
   */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

export interface SessionLimits {
  lifetimeMs: number;
  idleMs: number;
}

const hash = (id: string) => createHash('sha256').update(id, 'utf8').digest('hex');
const ID = /^[A-Za-z0-9_-]{43}$/;

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  private readonly byHash = new Map<string, Session>();

  constructor(private limits: SessionLimits, private readonly now: () => number = Date.now) {}

  /** A reloaded policy: the lifetime applies to sessions created after it, the idle limit to all. */
  setLimits(limits: SessionLimits): void { this.limits = limits; }

  /** Always a new id: a login never adopts an id the client presents (session fixation). */
  create(): { sessionId: string; csrf: string; handle: string; expiresAt: number } {
    const sessionId = randomBytes(32).toString('base64url');
    const t = this.now();
    const s: Session = {
      handle: randomBytes(8).toString('hex'), csrf: randomBytes(32).toString('base64url'),
      createdAt: t, lastSeenAt: t, expiresAt: t + this.limits.lifetimeMs,
    };
    this.byHash.set(hash(sessionId), s);
    return { sessionId, csrf: s.csrf, handle: s.handle, expiresAt: s.expiresAt };
  }

  /** The live session of an id, or undefined; an expired or idle one is removed on sight. */
  find(sessionId: string | undefined): Session | undefined {
    if (!sessionId || !ID.test(sessionId)) return undefined;
    const h = hash(sessionId);
    const s = this.byHash.get(h);
    if (!s) return undefined;
    const t = this.now();
    if (t >= s.expiresAt || t - s.lastSeenAt >= this.limits.idleMs) {
      this.byHash.delete(h);
      return undefined;
    }
    return s;
  }

  /** Checks a request, whatever its method: a live session AND its proof token (the cookie alone is nothing). Touches it. */
  validate(sessionId: string | undefined, csrf: string | undefined): Session {
    const s = this.find(sessionId);
    if (!s) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no valid session: log in');
    if (!csrf || !sameToken(csrf, s.csrf)) throw new SecaiError(ErrorCode.CSRF, 'missing or wrong x-csrf-token (the session proof)');
    s.lastSeenAt = this.now();
    return s;
  }

  /** Whether a cookie and a proof name a live session; touches nothing (the status route). */
  proven(sessionId: string | undefined, csrf: string | undefined): boolean {
    const s = this.find(sessionId);
    return !!s && !!csrf && sameToken(csrf, s.csrf);
  }

  end(sessionId: string): Session | undefined {
    const s = this.find(sessionId);
    if (s) this.byHash.delete(hash(sessionId));
    return s;
  }

  revoke(handle: string): boolean {
    for (const [h, s] of this.byHash) if (s.handle === handle) { this.byHash.delete(h); return true; }
    return false;
  }

  /** Ends every session but `keep` (passphrase change) or all of them (panic). Returns how many ended. */
  revokeAll(keepHandle?: string): number {
    let n = 0;
    for (const [h, s] of this.byHash) if (s.handle !== keepHandle) { this.byHash.delete(h); n++; }
    return n;
  }

  list(): Session[] {
    return [...this.byHash.values()].filter((s) => {
      const t = this.now();
      return t < s.expiresAt && t - s.lastSeenAt < this.limits.idleMs;
    });
  }
}
