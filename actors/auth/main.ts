// Auth actor process: sessions in memory (hashed ids), the login throttle on disk, passphrases checked by the vault.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authMachine } from '../../machines/auth/auth.machine.js';
import { eventSubject } from '../../bus/subjects.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { main, type ActorContext } from '../host.js';
import { loadVaultPolicy, type VaultPolicy } from '../vault/vault-policy.js';
import { authManifest } from './manifest.js';
import { checkAttempt, FRESH, recordFailure, type LimiterState } from './rate-limit.js';
import { SessionStore } from './sessions.js';

type Ctx = ActorContext<typeof authMachine>;

let policy: VaultPolicy;
let sessions: SessionStore;
let limiterFile: string;
let limiter: LimiterState = FRESH;
/** One passphrase check at a time: parallel guesses would all pass the throttle before the first fails. */
let gate: Promise<unknown> = Promise.resolve();

function loadLimiter(): LimiterState {
  if (!existsSync(limiterFile)) return FRESH;
  try {
    const v = JSON.parse(readFileSync(limiterFile, 'utf8')) as LimiterState;
    if (Number.isInteger(v.failures) && v.failures >= 0 && typeof v.lastFailureAt === 'number') return v;
  } catch { /* fall through */ }
  // Unreadable throttle state fails closed: treat it as a lockout starting now.
  return { failures: policy.login.lockout_after, lastFailureAt: Date.now() };
}

function saveLimiter(ctx: Ctx, s: LimiterState): void {
  limiter = s;
  writeFileAtomic(limiterFile, JSON.stringify(s), 0o600);
  ctx.actor.send({ type: 'auth.failures', failures: s.failures });
}

/** Runs a passphrase check through the throttle: refused early when too soon, failures recorded before replying. */
function throttled<T>(ctx: Ctx, attempt: () => Promise<T>): Promise<T> {
  const run = gate.then(async () => {
    checkAttempt(limiter, policy.login, Date.now());
    try {
      const r = await attempt();
      if (limiter.failures) saveLimiter(ctx, FRESH);
      return r;
    } catch (err) {
      const code = toErrorData(err).code;
      if (code === ErrorCode.WRONG_PASSPHRASE) {
        saveLimiter(ctx, recordFailure(limiter, Date.now()));
        await ctx.emit('login_failed', { code, failures: limiter.failures, at: Date.now() }).catch(() => {});
      }
      throw err;
    }
  });
  gate = run.catch(() => {});
  return run;
}

/** Ops the gateway forwards from a session route: the guard has checked the proof; here the session must still be live. */
function session(id: string) {
  const s = sessions.find(id);
  if (!s) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no valid session: log in');
  s.lastSeenAt = Date.now();
  return s;
}

function syncCount(ctx: Ctx) {
  ctx.actor.send({ type: 'auth.sessions', sessions: sessions.list().length });
}

main<typeof authMachine>({
  manifest: authManifest,
  machine: (ctx) => {
    policy = loadVaultPolicy(ctx.configDir);
    sessions = new SessionStore({ lifetimeMs: policy.session_hours * 3_600_000, idleMs: policy.session_idle_minutes * 60_000 });
    limiterFile = join(ctx.paths.home, 'auth', 'login-throttle.json');
    limiter = loadLimiter();
    return authMachine;
  },
  publicContext: (c) => ({ sessions: c.sessions, failures: c.failures }),
  ops: (ctx) => ({
    // Never returns the proof: any local port receives the cookie, so a GET must not turn it into a session.
    status: async (req: { sessionId?: string; csrf?: string }) => {
      const v = await ctx.bus.request<{ state: string; initialized: boolean }>('vault', 'status');
      return { initialized: v.initialized, loggedIn: sessions.proven(req.sessionId, req.csrf), vault: v.state };
    },
    setup: (req: { passphrase: string }) => throttled(ctx, async () => {
      await ctx.bus.request('vault', 'setup', { passphrase: req.passphrase }, 30_000);
      const issued = sessions.create();
      syncCount(ctx);
      await ctx.emit('setup_completed', { handle: issued.handle, at: Date.now() });
      return issued;
    }),
    login: (req: { passphrase: string }) => throttled(ctx, async () => {
      await ctx.bus.request('vault', 'unlock', { passphrase: req.passphrase }, 30_000);
      const issued = sessions.create();
      syncCount(ctx);
      await ctx.emit('login_succeeded', { handle: issued.handle, at: Date.now() });
      return issued;
    }),
    validate: (req: { sessionId?: string; csrf?: string }) => {
      const s = sessions.validate(req.sessionId, req.csrf);
      // A person at the UI is activity: it keeps an unlocked vault from idling shut.
      void ctx.bus.request('vault', 'keepalive', {}, 2000).catch(() => {});
      return { handle: s.handle };
    },
    logout: async (req: { sessionId: string }) => {
      const s = sessions.end(req.sessionId);
      syncCount(ctx);
      if (s) await ctx.emit('logged_out', { handle: s.handle, at: Date.now() });
      return { ok: !!s };
    },
    sessions: (req: { sessionId: string }) => {
      const me = session(req.sessionId);
      return { sessions: sessions.list().map((s) => ({ handle: s.handle, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, expiresAt: s.expiresAt, current: s.handle === me.handle })) };
    },
    revoke: async (req: { sessionId: string; handle: string }) => {
      const me = session(req.sessionId);
      const done = sessions.revoke(req.handle);
      syncCount(ctx);
      if (!done) throw new SecaiError(ErrorCode.UNKNOWN_OP, 'no such session');
      await ctx.emit('session_revoked', { handle: req.handle, by: me.handle, at: Date.now() });
      return { ok: true };
    },
    change_passphrase: (req: { sessionId: string; old: string; new: string }) => {
      const me = session(req.sessionId);
      return throttled(ctx, async () => {
        await ctx.bus.request('vault', 'change_passphrase', { old: req.old, new: req.new }, 60_000);
        const n = sessions.revokeAll(me.handle);
        syncCount(ctx);
        await ctx.emit('passphrase_changed', { handle: me.handle, at: Date.now() });
        if (n) await ctx.emit('sessions_ended', { count: n, reason: 'passphrase changed', at: Date.now() });
        return { ok: true };
      });
    },
    unlock: (req: { sessionId: string; passphrase: string }) => {
      session(req.sessionId);
      return throttled(ctx, () => ctx.bus.request('vault', 'unlock', { passphrase: req.passphrase }, 30_000));
    },
    panic: (req: { sessionId: string; level: number; passphrase?: string; confirm?: boolean }) => {
      session(req.sessionId);
      const args = { level: req.level, ...(req.passphrase !== undefined && { passphrase: req.passphrase }), ...(req.confirm !== undefined && { confirm: req.confirm }) };
      if (req.level === 1) return ctx.bus.request('vault', 'panic', args, 60_000);
      return throttled(ctx, () => ctx.bus.request('vault', 'panic', args, 60_000));
    },
    remove_model: async (req: { sessionId: string; name: string; passphrase: string }) => {
      // A stolen session cookie alone must not remove models: the passphrase again, through the same throttle as login.
      const me = session(req.sessionId);
      try {
        await throttled(ctx, () => ctx.bus.request('vault', 'verify_passphrase', { passphrase: req.passphrase }, 30_000));
        // The session may have been revoked (or a panic ended it) during the key derivation: check again.
        session(req.sessionId);
        return await ctx.bus.request('registry', 'remove', { name: req.name, session: me.handle }, 60_000);
      } catch (err) {
        await ctx.emit('model_removal_refused', { handle: me.handle, name: req.name, code: toErrorData(err).code, at: Date.now() }).catch(() => {});
        throw err;
      }
    },
  }),
  start: (ctx) => {
    // Any panic ends every session: the person at the keyboard may not be the owner.
    ctx.bus.subscribe(eventSubject('vault', 'panicked'), async () => {
      const n = sessions.revokeAll();
      syncCount(ctx);
      await ctx.emit('sessions_ended', { count: n, reason: 'panic', at: Date.now() }).catch(() => {});
    });
  },
});
