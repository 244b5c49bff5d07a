// Auth actor process: sessions in memory (hashed ids), the per-client login throttle on disk, the setup code check; passphrases checked by the vault.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authMachine } from '../../machines/auth/auth.machine.js';
import { onEvent } from '../../bus/events.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { loadVaultPolicy, type VaultPolicy } from '../vault/vault-policy.js';
import { vaultManifest } from '../vault/manifest.js';
import { authManifest } from './manifest.js';
import { checkClient, EMPTY, parseThrottle, recordClientFailure, recordClientSuccess, type ThrottleState } from './client-throttle.js';
import { DeviceTokens } from './device-token.js';
import { consumeSetupCode, judgeSetupCode, SETUP_CODE_REFUSAL } from '../../common/setup-code.js';
import { SessionStore } from './sessions.js';

type Ctx = ActorContext<typeof authMachine>;

let policy: VaultPolicy;
let sessions: SessionStore;
let devices: DeviceTokens;
let limiterFile: string;
let limiter: ThrottleState = EMPTY;
/** One passphrase check at a time: parallel guesses would all pass the throttle before the first fails. */
let gate: Promise<unknown> = Promise.resolve();
/** Refusals that were guesses (a wrong setup code): counted like a wrong passphrase. */
const guesses = new WeakSet<object>();

/** Every client without a device token: all local processes look alike on loopback, so they share one ladder. */
const ANONYMOUS = 'anonymous';
const clientOf = (device: string | undefined) => {
  const id = devices.idOf(device);
  return id ? `device:${id}` : ANONYMOUS;
};

function loadLimiter(): ThrottleState {
  if (!existsSync(limiterFile)) return EMPTY;
  try {
    const v = parseThrottle(readFileSync(limiterFile, 'utf8'), ANONYMOUS);
    if (v) return v;
  } catch { /* fall through */ }
  // Unreadable throttle state fails closed: a lockout starting now for the anonymous ladder and the global ceiling.
  const now = Date.now();
  return { clients: { [ANONYMOUS]: { failures: policy.login.lockout_after, lastFailureAt: now } }, recent: Array.from({ length: policy.login.global_max_failures }, () => now) };
}

function saveLimiter(ctx: Ctx, s: ThrottleState): void {
  limiter = s;
  writeFileAtomic(limiterFile, JSON.stringify(s), 0o600);
  ctx.actor.send({ type: 'auth.failures', failures: s.clients[ANONYMOUS]?.failures ?? 0 });
}

/** Runs a passphrase check through the client's throttle: refused early when too soon, failures recorded before replying. */
function throttled<T>(ctx: Ctx, client: string, attempt: () => Promise<T>): Promise<T> {
  const run = gate.then(async () => {
    try {
      checkClient(limiter, client, policy.login, Date.now());
    } catch (err) {
      // Whoever is refused may be the owner: say which path no local guesser can block.
      throw new SecaiError(ErrorCode.RATE_LIMITED, `${toErrorData(err).message} (the operator can still run: securectl vault unlock)`, { cause: err });
    }
    try {
      const r = await attempt();
      if (limiter.clients[client]) saveLimiter(ctx, recordClientSuccess(limiter, client));
      return r;
    } catch (err) {
      const code = toErrorData(err).code;
      if (code === ErrorCode.WRONG_PASSPHRASE || (typeof err === 'object' && err !== null && guesses.has(err))) {
        const now = Date.now();
        const r = recordClientFailure(limiter, client, policy.login, now);
        saveLimiter(ctx, r.state);
        await ctx.emit('login_failed', { code, failures: r.failures, client, at: now }).catch(() => {});
        // A lockout reached is a burst: the incident actor (when it exists) subscribes to this subject.
        if (r.burst) {
          await ctx.emit('guess_burst', { client, scope: r.burst, failures: r.failures, total: r.total, windowMs: policy.login.global_window_minutes * 60_000, at: now })
            .catch((e: unknown) => ctx.log.error({ err: e }, 'guess_burst not published'));
        }
      }
      throw err;
    }
  });
  gate = run.catch(() => {});
  return run;
}

/** Issues a session and, unless the client already holds a genuine one, a device token. */
function issue(ctx: Ctx, device: string | undefined) {
  const issued = sessions.create();
  syncCount(ctx);
  return { ...issued, device: devices.idOf(device) ? device! : devices.issue().token };
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
    devices = new DeviceTokens(join(ctx.paths.home, 'auth', 'device-key'));
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
    setup: async (req: { passphrase: string; setupCode?: string; device?: string }) => {
      const v = await ctx.bus.request<{ initialized: boolean }>('vault', 'status');
      if (v.initialized) throw new SecaiError(ErrorCode.INVALID_STATE, 'the vault is already set up');
      return throttled(ctx, clientOf(req.device), async () => {
        // Until a passphrase exists anyone local could claim the appliance: the code proves the operator (issue #12 item 7).
        const verdict = judgeSetupCode(ctx.paths.run, req.setupCode);
        if (verdict !== 'ok') {
          const err = new SecaiError(ErrorCode.SETUP_CODE, SETUP_CODE_REFUSAL[verdict]);
          if (verdict === 'wrong') guesses.add(err);
          throw err;
        }
        await ctx.bus.request('vault', 'setup', { passphrase: req.passphrase }, 30_000);
        consumeSetupCode(ctx.paths.run);
        const issued = issue(ctx, req.device);
        await ctx.emit('setup_completed', { handle: issued.handle, at: Date.now() });
        return issued;
      });
    },
    login: (req: { passphrase: string; device?: string }) => throttled(ctx, clientOf(req.device), async () => {
      await ctx.bus.request('vault', 'unlock', { passphrase: req.passphrase }, 30_000);
      const issued = issue(ctx, req.device);
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
      return throttled(ctx, `session:${me.handle}`, async () => {
        await ctx.bus.request('vault', 'change_passphrase', { old: req.old, new: req.new }, 60_000);
        const n = sessions.revokeAll(me.handle);
        syncCount(ctx);
        await ctx.emit('passphrase_changed', { handle: me.handle, at: Date.now() });
        if (n) await ctx.emit('sessions_ended', { count: n, reason: 'passphrase changed', at: Date.now() });
        return { ok: true };
      });
    },
    unlock: (req: { sessionId: string; passphrase: string }) => {
      const me = session(req.sessionId);
      return throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'unlock', { passphrase: req.passphrase }, 30_000));
    },
    panic: (req: { sessionId: string; level: number; passphrase?: string; confirm?: boolean }) => {
      const me = session(req.sessionId);
      const args = { level: req.level, ...(req.passphrase !== undefined && { passphrase: req.passphrase }), ...(req.confirm !== undefined && { confirm: req.confirm }) };
      if (req.level === 1) return ctx.bus.request('vault', 'panic', args, 60_000);
      return throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'panic', args, 60_000));
    },
    remove_model: async (req: { sessionId: string; name: string; passphrase: string }) => {
      // A stolen session cookie alone must not remove models: the passphrase again, through the same throttle as login.
      const me = session(req.sessionId);
      try {
        await throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'verify_passphrase', { passphrase: req.passphrase }, 30_000));
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
    // Acted on only when the payload is the vault's declared panicked event (the ACL lets only the vault publish it).
    onEvent(ctx.bus, 'vault', 'panicked', vaultManifest.publishes.panicked, ctx.log, async () => {
      const n = sessions.revokeAll();
      syncCount(ctx);
      await ctx.emit('sessions_ended', { count: n, reason: 'panic', at: Date.now() }).catch(() => {});
    });
  },
});
