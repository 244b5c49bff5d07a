// Auth actor process: wiring. The login throttle and the one-check-at-a-time queue live in machines/auth; sessions (hashed ids) and device keys are its private context; passphrases are checked by the vault.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import { authMachine, type CheckOutcome } from '../../machines/auth/auth.machine.js';
import { asFailure } from '../../machines/request.js';
import { ask } from '../../runtime/ask.js';
import { onEvent } from '../../bus/events.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { configSection, readSection } from '../../runtime/config-section.js';
import type { VaultSection } from '../../policy/sections.js';
import { vaultManifest } from '../../runtime/catalog.js';
import { authManifest } from './manifest.js';
import { checkClient, EMPTY, parseThrottle, recordClientFailure, recordClientSuccess, type ThrottleState } from './client-throttle.js';
import { DeviceTokens } from './device-token.js';
import { consumeSetupCode, judgeSetupCode, SETUP_CODE_REFUSAL } from '../../common/setup-code.js';
import { SessionStore } from './sessions.js';
import type { OperatorAct } from '../../contracts/incident-summary.js';

type Ctx = ActorContext<typeof authMachine>;

/** What the auth machine holds for the handlers (private context). */
interface Deps { policy: VaultSection; sessions: SessionStore; devices: DeviceTokens; limiterFile: string }
const depsOf = (ctx: Ctx) => ctx.actor.getSnapshot().context.deps as Deps;

const sessionLimits = (p: VaultSection) => ({ lifetimeMs: p.session_hours * 3_600_000, idleMs: p.session_idle_minutes * 60_000 });

/** Refusals that were guesses (a wrong setup code): counted like a wrong passphrase. */
const GUESS = Symbol('secai.auth.guess');
const isGuess = (err: unknown) => typeof err === 'object' && err !== null && GUESS in err;

/** Every client without a device token: all local processes look alike on loopback, so they share one ladder. */
const ANONYMOUS = 'anonymous';
const clientOf = (ctx: Ctx, device: string | undefined) => {
  const id = depsOf(ctx).devices.idOf(device);
  return id ? `device:${id}` : ANONYMOUS;
};

function loadLimiter(limiterFile: string, policy: VaultSection): ThrottleState {
  if (!existsSync(limiterFile)) return EMPTY;
  try {
    const v = parseThrottle(readFileSync(limiterFile, 'utf8'), ANONYMOUS);
    if (v) return v;
  } catch { /* lint-ok: unreadable state falls through to the fail-closed lockout below */ }
  // Unreadable throttle state fails closed: a lockout starting now for the anonymous ladder and the global ceiling.
  const now = Date.now();
  return { clients: { [ANONYMOUS]: { failures: policy.login.lockout_after, lastFailureAt: now } }, recent: Array.from({ length: policy.login.global_max_failures }, () => now) };
}

const failuresOf = (s: ThrottleState) => s.clients[ANONYMOUS]?.failures ?? 0;

/** The machine's check effect: the throttle state in, the state after the attempt out (persisted first). */
async function runCheck(ctx: Pick<Ctx, 'emitOrLog' | 'log'>, deps: Deps, client: string, attempt: () => Promise<unknown>, throttle: ThrottleState): Promise<CheckOutcome> {
  const { policy, limiterFile } = deps;
  const save = (s: ThrottleState) => { writeFileAtomic(limiterFile, JSON.stringify(s), 0o600); return s; };
  try {
    checkClient(throttle, client, policy.login, Date.now());
  } catch (err) {
    // Whoever is refused may be the owner: say which path no local guesser can block.
    return { throttle, failures: failuresOf(throttle), ok: false, error: { code: ErrorCode.RATE_LIMITED, message: `${toErrorData(err).message} (the operator can still run: securectl vault unlock)` } };
  }
  try {
    const data = await attempt();
    const next = throttle.clients[client] ? save(recordClientSuccess(throttle, client)) : throttle;
    return { throttle: next, failures: failuresOf(next), ok: true, data };
  } catch (err) {
    const code = toErrorData(err).code;
    if (code !== ErrorCode.WRONG_PASSPHRASE && !isGuess(err)) return { throttle, failures: failuresOf(throttle), ok: false, error: asFailure(err) };
    const now = Date.now();
    const r = recordClientFailure(throttle, client, policy.login, now);
    save(r.state);
    await ctx.emitOrLog('login_failed', { code, failures: r.failures, client, at: now });
    // A lockout reached is a burst: the incident actor (when it exists) subscribes to this subject.
    if (r.burst) {
      await ctx.emitOrLog('guess_burst', { client, scope: r.burst, failures: r.failures, total: r.total, windowMs: policy.login.global_window_minutes * 60_000, at: now });
    }
    return { throttle: r.state, failures: failuresOf(r.state), ok: false, error: asFailure(err) };
  }
}

/** Runs a passphrase check through the machine: queued, throttled, failures recorded before the reply. */
const throttled = <T>(ctx: Ctx, client: string, attempt: () => Promise<T>): Promise<T> =>
  ask<T>(ctx.actor, { type: 'auth.check', client, attempt }, 120_000);

/** Issues a session and, unless the client already holds a genuine one, a device token. */
function issue(ctx: Ctx, device: string | undefined) {
  const issued = depsOf(ctx).sessions.create();
  syncCount(ctx);
  return { ...issued, device: depsOf(ctx).devices.idOf(device) ? device! : depsOf(ctx).devices.issue().token };
}

/** Ops the gateway forwards from a session route: the guard has checked the proof; here the session must still be live. */
function session(ctx: Ctx, id: string) {
  const s = depsOf(ctx).sessions.find(id);
  if (!s) throw new SecaiError(ErrorCode.UNAUTHORIZED, 'no valid session: log in');
  s.lastSeenAt = Date.now();
  return s;
}

function syncCount(ctx: Ctx) {
  ctx.actor.send({ type: 'auth.sessions', sessions: depsOf(ctx).sessions.list().length });
}

main<typeof authMachine, typeof authManifest>({
  manifest: authManifest,
  machine: (ctx) => authMachine.provide({
    actors: {
      check: fromPromise(({ input }) => runCheck(ctx, input.deps as Deps, input.check.client, input.check.attempt, input.throttle as ThrottleState)),
    },
  }),
  input: async (ctx) => {
    // policy.yaml `vault` (sign-in limits) from the policy actor; `start` follows reloads.
    const policy = await readSection(ctx, 'vault');
    const limiterFile = join(ctx.paths.home, 'auth', 'login-throttle.json');
    const deps: Deps = {
      policy, limiterFile,
      sessions: new SessionStore(sessionLimits(policy)),
      devices: new DeviceTokens(join(ctx.paths.home, 'auth', 'device-key')),
    };
    const throttle = loadLimiter(limiterFile, policy);
    return { deps, throttle, failures: failuresOf(throttle) };
  },
  publicContext: (c) => ({ sessions: c.sessions, failures: c.failures }),
  ops: (ctx) => ({
    // Never returns the proof: any local port receives the cookie, so a GET must not turn it into a session.
    status: async (req: { sessionId?: string; csrf?: string }) => {
      const v = await ctx.bus.request<{ state: string; initialized: boolean }>('vault', 'status');
      return { initialized: v.initialized, loggedIn: depsOf(ctx).sessions.proven(req.sessionId, req.csrf), vault: v.state };
    },
    setup: async (req: { passphrase: string; setupCode?: string; device?: string }) => {
      const v = await ctx.bus.request<{ initialized: boolean }>('vault', 'status');
      if (v.initialized) throw new SecaiError(ErrorCode.INVALID_STATE, 'the vault is already set up');
      return throttled(ctx, clientOf(ctx, req.device), async () => {
        // Until a passphrase exists anyone local could claim the appliance: the code proves the operator (issue #12 item 7).
        const verdict = judgeSetupCode(ctx.paths.run, req.setupCode);
        if (verdict !== 'ok') {
          const err = new SecaiError(ErrorCode.SETUP_CODE, SETUP_CODE_REFUSAL[verdict]);
          if (verdict === 'wrong') Object.assign(err, { [GUESS]: true });
          throw err;
        }
        await ctx.bus.request('vault', 'setup', { passphrase: req.passphrase }, 30_000);
        consumeSetupCode(ctx.paths.run);
        const issued = issue(ctx, req.device);
        await ctx.emit('setup_completed', { handle: issued.handle, at: Date.now() });
        return issued;
      });
    },
    login: (req: { passphrase: string; device?: string }) => throttled(ctx, clientOf(ctx, req.device), async () => {
      await ctx.bus.request('vault', 'unlock', { passphrase: req.passphrase }, 30_000);
      const issued = issue(ctx, req.device);
      await ctx.emit('login_succeeded', { handle: issued.handle, at: Date.now() });
      return issued;
    }),
    validate: (req: { sessionId?: string; csrf?: string }) => {
      const s = depsOf(ctx).sessions.validate(req.sessionId, req.csrf);
      // A person at the UI is activity: it keeps an unlocked vault from idling shut.
      void ctx.bus.request('vault', 'keepalive', {}, 2000).catch((err: unknown) => ctx.log.debug({ err: toErrorData(err).code }, 'vault keepalive not delivered'));
      return { handle: s.handle };
    },
    logout: async (req: { sessionId: string }) => {
      const s = depsOf(ctx).sessions.end(req.sessionId);
      syncCount(ctx);
      if (s) await ctx.emit('logged_out', { handle: s.handle, at: Date.now() });
      return { ok: !!s };
    },
    sessions: (req: { sessionId: string }) => {
      const me = session(ctx, req.sessionId);
      return { sessions: depsOf(ctx).sessions.list().map((s) => ({ handle: s.handle, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, expiresAt: s.expiresAt, current: s.handle === me.handle })) };
    },
    revoke: async (req: { sessionId: string; handle: string }) => {
      const me = session(ctx, req.sessionId);
      const done = depsOf(ctx).sessions.revoke(req.handle);
      syncCount(ctx);
      if (!done) throw new SecaiError(ErrorCode.UNKNOWN_OP, 'no such session');
      await ctx.emit('session_revoked', { handle: req.handle, by: me.handle, at: Date.now() });
      return { ok: true };
    },
    change_passphrase: (req: { sessionId: string; old: string; new: string }) => {
      const me = session(ctx, req.sessionId);
      return throttled(ctx, `session:${me.handle}`, async () => {
        await ctx.bus.request('vault', 'change_passphrase', { old: req.old, new: req.new }, 60_000);
        const n = depsOf(ctx).sessions.revokeAll(me.handle);
        syncCount(ctx);
        await ctx.emit('passphrase_changed', { handle: me.handle, at: Date.now() });
        if (n) await ctx.emit('sessions_ended', { count: n, reason: 'passphrase changed', at: Date.now() });
        return { ok: true };
      });
    },
    unlock: (req: { sessionId: string; passphrase: string }) => {
      const me = session(ctx, req.sessionId);
      return throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'unlock', { passphrase: req.passphrase }, 30_000));
    },
    panic: (req: { sessionId: string; level: number; passphrase?: string; confirm?: boolean }) => {
      const me = session(ctx, req.sessionId);
      const args = { level: req.level, ...(req.passphrase !== undefined && { passphrase: req.passphrase }), ...(req.confirm !== undefined && { confirm: req.confirm }) };
      if (req.level === 1) return ctx.bus.request('vault', 'panic', args, 60_000);
      return throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'panic', args, 60_000));
    },
    remove_model: async (req: { sessionId: string; name: string; passphrase: string }) => {
      // A stolen session cookie alone must not remove models: the passphrase again, through the same throttle as login.
      const me = session(ctx, req.sessionId);
      try {
        await throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'verify_passphrase', { passphrase: req.passphrase }, 30_000));
        // The session may have been revoked (or a panic ended it) during the key derivation: check again.
        session(ctx, req.sessionId);
        return await ctx.bus.request('registry', 'remove', { name: req.name, session: me.handle }, 60_000);
      } catch (err) {
        await ctx.emitOrLog('model_removal_refused', { handle: me.handle, name: req.name, code: toErrorData(err).code, at: Date.now() });
        throw err;
      }
    },
    incident_act: async (req: { sessionId: string; id: string; action: OperatorAct; passphrase: string; note?: string }) => {
      // As for removal: a stolen session cookie alone must not acknowledge away an incident. The passphrase again, throttled.
      const me = session(ctx, req.sessionId);
      try {
        await throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'verify_passphrase', { passphrase: req.passphrase }, 30_000));
        // Containment may have ended this very session (end_sessions) during the key derivation: check again.
        session(ctx, req.sessionId);
        return await ctx.bus.request('incident', 'act_for_session', { id: req.id, action: req.action, session: me.handle, note: req.note ?? '' }, 30_000);
      } catch (err) {
        await ctx.emitOrLog('incident_act_refused', { handle: me.handle, id: req.id, action: req.action, code: toErrorData(err).code, at: Date.now() });
        throw err;
      }
    },
    mcp_approve: async (req: { sessionId: string; server: string; tool: string; hash: string; acceptFindings?: boolean; passphrase: string }) => {
      // Pinning a tool lets every MCP client call it: a stolen session cookie alone must not. The passphrase again, throttled.
      const me = session(ctx, req.sessionId);
      try {
        await throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'verify_passphrase', { passphrase: req.passphrase }, 30_000));
        // The session may have been ended (panic, containment) during the key derivation: check again.
        session(ctx, req.sessionId);
        return await ctx.bus.request('mcp-firewall', 'approve_web', { server: req.server, tool: req.tool, hash: req.hash, acceptFindings: req.acceptFindings ?? false, session: me.handle }, 30_000);
      } catch (err) {
        await ctx.emitOrLog('mcp_approve_refused', { handle: me.handle, server: req.server, tool: req.tool, code: toErrorData(err).code, at: Date.now() });
        throw err;
      }
    },
    agent_act: async (req: { sessionId: string; planId: string; step: number; intentHash: string; action: 'approve' | 'deny'; passphrase: string }) => {
      // A step approved here gets a capability token: a stolen session cookie alone must not. The passphrase again, throttled.
      const me = session(ctx, req.sessionId);
      const step = { planId: req.planId, step: req.step, intentHash: req.intentHash, session: me.handle };
      try {
        await throttled(ctx, `session:${me.handle}`, () => ctx.bus.request('vault', 'verify_passphrase', { passphrase: req.passphrase }, 30_000));
        // The session may have been ended (panic, containment) during the key derivation: check again.
        session(ctx, req.sessionId);
        if (req.action === 'deny') return await ctx.bus.request('agent', 'deny_web', step, 30_000);
        // A step's approval is recorded in policy first (only auth may): policy.mint spends it for this exact step and
        // intent. The plan's approval (-1) mints nothing; the agent checks its intent hash.
        if (req.step >= 0) await ctx.bus.request('policy', 'approve_web', step, 30_000);
        return await ctx.bus.request('agent', 'approve_web', step, 30_000);
      } catch (err) {
        await ctx.emitOrLog('agent_act_refused', { handle: me.handle, planId: req.planId, step: req.step, action: req.action, code: toErrorData(err).code, at: Date.now() });
        throw err;
      }
    },
    // Served to the incident actor alone (ACL, `callers`): every browser signs in again. The event is queued even
    // when storage is full (a containment must not wait on the audit chain).
    end_sessions: (req: { incidentId: string; reason: string }) => {
      const ended = depsOf(ctx).sessions.revokeAll();
      syncCount(ctx);
      ctx.log.warn({ incidentId: req.incidentId, ended }, 'every web session ended by an incident');
      ctx.emitEssential('sessions_ended', { count: ended, reason: 'incident containment', by: req.incidentId, at: Date.now() });
      return { ended };
    },
  }),
  start: async (ctx) => {
    // A reload applies to the next check; session lifetimes to sessions created after it, the idle limit to all.
    await configSection(ctx, 'vault', (policy) => {
      const deps = depsOf(ctx);
      deps.sessions.setLimits(sessionLimits(policy));
      ctx.actor.send({ type: 'auth.deps', deps: { ...deps, policy } });
    });
    // Any panic ends every session: the person at the keyboard may not be the owner.
    // Acted on only when the payload is the vault's declared panicked event (the ACL lets only the vault publish it).
    onEvent(ctx.bus, 'vault', 'panicked', vaultManifest.publishes.panicked, ctx.log, async () => {
      const n = depsOf(ctx).sessions.revokeAll();
      syncCount(ctx);
      await ctx.emitOrLog('sessions_ended', { count: n, reason: 'panic', at: Date.now() });
    });
  },
});
