// Policy engine process: wiring. The policy in force, its reloads and the allow tally live in machines/policy; decide() runs against the machine's policy.
import { fromCallback, fromPromise } from 'xstate';
import { policyMachine, summary, type LoadedPolicy, type PolicyContext } from '../../machines/policy/policy.machine.js';
import { decide, type DecisionResult } from '../../policy/decide/index.js';
import { loadPolicyFile, policyPath } from '../../policy/snapshot.js';
import { changedSections, restartNotes, sectionsOf, type PolicySections, type SectionName } from '../../policy/sections.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { secaiEnv } from '../../common/env.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { ask } from '../../runtime/ask.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { policyManifest } from './manifest.js';

type Ctx = ActorContext<typeof policyMachine>;
/** The policy in force with its sections: swapped as one object in the machine, so a section and the policy never disagree. */
type Current = LoadedPolicy & PolicySnapshot & { sections: ReturnType<typeof sectionsOf> };

const load = (ctx: Pick<Ctx, 'configDir' | 'paths'>): Current => {
  const p = loadPolicyFile(policyPath(ctx.configDir), ctx.paths.home);
  return { ...p, loadedAt: Date.now(), sections: sectionsOf(p.value as unknown as PolicySections) };
};
const current = (ctx: Ctx) => ctx.actor.getSnapshot().context.current as Current;

/** One section of the policy in force, with its digest (runtime/config-section.ts asks for it). */
const section = (ctx: Ctx, req: { name: SectionName }) => {
  const c = current(ctx);
  const sec = c.sections[req.name];
  return { name: sec.name, digest: sec.digest, value: sec.value as unknown as Record<string, unknown>, policyDigest: c.digest };
};

/** Decides against the machine's policy and tells the machine (allows are tallied, the rest evented). */
function decideNow(ctx: Ctx, req: { domain: string; input: unknown }): DecisionResult {
  const r = decide(current(ctx), req.domain, req.input);
  ctx.actor.send({ type: 'policy.decided', result: r as unknown as DecisionResult & Record<string, unknown> });
  return r;
}

const show = (ctx: Ctx) => {
  const c = current(ctx);
  return { digest: c.digest, path: c.path, loadedAt: c.loadedAt, policy: c.value as unknown as Record<string, unknown> };
};

main<typeof policyMachine, typeof policyManifest>({
  manifest: policyManifest,
  machine: (ctx) => policyMachine.provide({
    actors: {
      loadPolicy: fromPromise(async ({ input }) => {
        try {
          const loaded = load(ctx);
          // The policy in force until this effect is done (the machine swaps it then).
          const was = input.current as Current;
          const changed = changedSections(was.sections, loaded.sections);
          const restart = restartNotes(was.value as unknown as PolicySections, loaded.value as unknown as PolicySections, changed);
          return { result: { ok: true as const, digest: loaded.digest, previous: input.previous, changed, restart }, loaded };
        } catch (err) {
          return { result: { ok: false as const, error: (err as Error).message, kept: input.previous } };
        }
      }),
      ticker: fromCallback(({ sendBack }) => {
        const t = setInterval(() => sendBack({ type: 'policy.flush', now: Date.now() }), secaiEnv().policyAllowFlushMs);
        t.unref();
        return () => clearInterval(t);
      }),
    },
    actions: {
      reportReload: ({ context }: { context: PolicyContext }) => {
        const r = context.lastReload;
        if (!r) return;
        const path = context.current.path;
        // The event names the changed sections; their owners refetch them from this actor (the event carries no values).
        if (r.ok) void ctx.emitOrLog('reloaded', { digest: r.digest, previous: r.previous, path, changed: r.changed, restart: r.restart });
        else void ctx.emitOrLog('reload_failed', { error: r.error.slice(0, 2048), kept: r.kept, path });
      },
      reportDecision: ({ event }) => {
        if (event.type !== 'policy.decided') return;
        const r = event.result;
        // The reply does not wait for the audit ack (latency); a lost event is logged, never silent.
        void ctx.emitOrLog('decided', r);
        ctx.log.info({ domain: r.domain, rule: r.rule, decision: r.decision, inputHash: r['inputHash'] }, 'policy decision');
      },
      reportAllows: ({ context, event }) => {
        const s = event.type === 'policy.flush' ? summary(context, event.now) : undefined;
        if (s) void ctx.emitOrLog('allows', s);
      },
    },
  }),
  // A bad policy at start stops the actor: with no decision point every request is refused (fail closed).
  input: (ctx) => ({ current: load(ctx) }),
  publicContext: (c) => ({ digest: c.digest, reloads: c.reloads, lastReload: c.lastReload }),
  ops: (ctx) => ({
    decide: (req: { domain: string; input: unknown }) => decideNow(ctx, req),
    show: () => show(ctx),
    section: (req: { name: SectionName }) => section(ctx, req),
  }),
  commands: (ctx) => ({
    decide: (req: { domain: string; input: unknown }) => decideNow(ctx, req),
    show: () => show(ctx),
    reload: async () => {
      const r = await ask<PolicyContext['lastReload']>(ctx.actor, { type: 'policy.reload' }, 30_000);
      if (!r || !r.ok) throw new SecaiError(ErrorCode.CONFIG_INVALID, `policy not reloaded, ${r?.ok === false ? r.kept : current(ctx).digest} stays in force: ${r && !r.ok ? r.error : 'no result'}`);
      return { digest: r.digest, previous: r.previous, changed: r.digest !== r.previous, sections: r.changed as SectionName[], restart: r.restart as { section: SectionName; keys: string[]; reason: string }[] };
    },
  }),
  stop: async (ctx) => {
    const s = await ask<ReturnType<typeof summary> | null>(ctx.actor, { type: 'policy.flush', now: Date.now() }, 5000);
    if (s) await ctx.emitOrLog('allows', s);
  },
});
