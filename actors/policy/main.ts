// Policy engine process: holds the policy in force, decides, reloads atomically on a signed command.
import { fromPromise } from 'xstate';
import { policyMachine, type ReloadResult } from '../../machines/policy/policy.machine.js';
import { decide, type DecisionResult } from '../../policy/decide/index.js';
import { loadPolicyFile, policyPath } from '../../policy/snapshot.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { AllowCounter } from './allow-counter.js';
import { policyManifest } from './manifest.js';

const ALLOW_FLUSH_MS = Number(process.env.SECAI_POLICY_ALLOW_FLUSH_MS ?? 10_000);

let current: PolicySnapshot & { path: string; loadedAt: number };
const allows = new AllowCounter();
let flushTimer: NodeJS.Timeout | undefined;

function record(ctx: Pick<ActorContext, 'emit' | 'log'>, r: DecisionResult): DecisionResult {
  if (r.decision === 'allow') allows.add(r.domain, r.rule);
  // The reply does not wait for the audit ack (latency); a lost event is logged, never silent.
  else void ctx.emit('decided', r).catch((err: unknown) => ctx.log.error({ err, rule: r.rule }, 'decision event not acknowledged'));
  if (r.decision !== 'allow') ctx.log.info({ domain: r.domain, rule: r.rule, decision: r.decision, inputHash: r.inputHash }, 'policy decision');
  return r;
}

async function flushAllows(ctx: Pick<ActorContext, 'emit' | 'log'>): Promise<void> {
  const summary = allows.take(current.digest);
  if (summary) await ctx.emit('allows', summary).catch((err: unknown) => ctx.log.error({ err }, 'allow summary not acknowledged'));
}

const show = () => ({ digest: current.digest, path: current.path, loadedAt: current.loadedAt, policy: current.value as unknown as Record<string, unknown> });

main({
  manifest: policyManifest,
  machine: (ctx) => {
    // A bad policy at start stops the actor: with no decision point every request is refused (fail closed).
    current = { ...loadPolicyFile(policyPath(ctx.configDir), ctx.paths.home), loadedAt: Date.now() };
    return policyMachine.provide({
      actors: {
        loadPolicy: fromPromise<ReloadResult>(async () => {
          const previous = current.digest;
          try {
            const next = loadPolicyFile(policyPath(ctx.configDir), ctx.paths.home);
            // The swap is one assignment: every decision sees the old policy or the new one, never a mix.
            current = { ...next, loadedAt: Date.now() };
            return { ok: true, digest: next.digest, previous };
          } catch (err) {
            return { ok: false, error: (err as Error).message, kept: previous };
          }
        }),
      },
      actions: {
        reportReload: ({ context }) => {
          const r = context.lastReload;
          if (!r) return;
          if (r.ok) void ctx.emit('reloaded', { digest: r.digest, previous: r.previous, path: current.path }).catch(() => {});
          else void ctx.emit('reload_failed', { error: r.error.slice(0, 2048), kept: r.kept, path: current.path }).catch(() => {});
        },
      },
    });
  },
  publicContext: (c) => ({ digest: c.digest, reloads: c.reloads, lastReload: c.lastReload }),
  ops: (ctx) => ({
    decide: (req: { domain: string; input: unknown }) => record(ctx, decide(current, req.domain, req.input)),
    show,
  }),
  commands: (ctx) => ({
    decide: (req: { domain: string; input: unknown }) => record(ctx, decide(current, req.domain, req.input)),
    show,
    reload: async () => {
      const snap = await ctx.sendAndWait({ type: 'policy.reload' }, (s) => s.matches('serving'), 30_000);
      const r = snap.context.lastReload;
      if (!r || !r.ok) throw new SecaiError(ErrorCode.CONFIG_INVALID, `policy not reloaded, ${r?.ok === false ? r.kept : current.digest} stays in force: ${r && !r.ok ? r.error : 'no result'}`);
      return { digest: r.digest, previous: r.previous, changed: r.digest !== r.previous };
    },
  }),
  start: (ctx) => {
    ctx.actor.send({ type: 'policy.loaded', digest: current.digest });
    flushTimer = setInterval(() => void flushAllows(ctx), ALLOW_FLUSH_MS);
    flushTimer.unref();
  },
  stop: async (ctx) => {
    clearInterval(flushTimer);
    await flushAllows(ctx);
  },
});
