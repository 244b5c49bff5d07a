// Airlock process: wiring. The policy in force, the downloads in flight and the request counts live in machines/airlock; every egress is checked, scanned, pinned and audited.
import { airlockMachine, type AirlockContainment } from '../../machines/airlock/airlock.machine.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { secaiEnv } from '../../common/env.js';
import { configSection, type ConfigSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { Downloads, type DownloadRequest } from './download.js';
import { egressFetch, loopbackAllowed, systemResolver, testHostsResolver, type AirlockPolicyView, type EgressDeps, type EgressEvidence, type EgressRequest } from './egress.js';
import { airlockManifest } from './manifest.js';
import { clearContainment, containmentPath, readContainment, writeContainment } from './containment-file.js';

type Ctx = ActorContext<typeof airlockMachine>;
interface Sections { airlock: ConfigSection<'airlock'>; models: ConfigSection<'models'> }

/** The test switches as egress.ts reads them (parsed once in common/env.ts); they apply only with the policy's loopback switch. */
const testEnv = () => {
  const env = secaiEnv();
  return {
    SECAI_TEST: env.test ? '1' : '', SECAI_TEST_AIRLOCK_HOSTS: env.testAirlockHosts,
    ...(env.testAirlockCa !== undefined && { SECAI_TEST_AIRLOCK_CA: env.testAirlockCa }),
  };
};

const sectionsOf = (ctx: Ctx) => ctx.actor.getSnapshot().context.sections as Sections | null;
const viewOf = (s: Sections): AirlockPolicyView => ({ digest: s.airlock.policyDigest, value: { airlock: s.airlock.value, models: s.models.value } });

/**
 * The sections as of the policy a decision cites: a decision made under a newer policy than the sections
 * held (its reloaded event still on the way) refetches them first, so limits and decision agree.
 */
async function policyFor(ctx: Ctx, digest?: string): Promise<AirlockPolicyView> {
  const s = sectionsOf(ctx);
  if (!s) throw new SecaiError(ErrorCode.NOT_READY, 'airlock is starting (no policy yet)');
  if (digest !== undefined && s.airlock.policyDigest !== digest) await Promise.all([s.airlock.refresh(), s.models.refresh()]);
  return viewOf(s);
}

function evidence(ctx: Ctx, e: EgressEvidence): void {
  ctx.actor.send({ type: 'airlock.request', allowed: e.decision === 'allow' && !e.reason });
  const ev = { ...e, ...(e.reason !== undefined && { reason: e.reason.slice(0, 1024) }) };
  void ctx.emitOrLog('egress', ev);
}

async function status(ctx: Ctx) {
  const p = await policyFor(ctx);
  const c = ctx.actor.getSnapshot().context;
  const a = p.value.airlock;
  return {
    enabled: a.enabled && !c.containment, policyEnabled: a.enabled, ...(c.containment && { disabledBy: c.containment }),
    loopbackForTests: loopbackAllowed(a, testEnv()),
    destinations: a.destinations.map((d) => `${d.id}: ${d.methods.join(',')} ${d.schemes.join('|')}://${d.host}:${d.ports.join(',')}${d.path_prefix}`),
    requests: c.requests, denied: c.denied, policyDigest: p.digest,
  };
}

function egressDeps(ctx: Ctx): EgressDeps {
  return {
    decide: (domain, input) => ctx.bus.request<DecisionResult>('policy', 'decide', { domain, input }),
    policy: (digest) => policyFor(ctx, digest),
    // The test hosts map only ever applies with the loopback test switch on (and SECAI_TEST=1): see egress.ts.
    resolve: testHostsResolver(systemResolver, () => sectionsOf(ctx)?.airlock.value, testEnv()),
    env: testEnv(),
    evidence: (e) => evidence(ctx, e),
    containment: () => ctx.actor.getSnapshot().context.containment,
  };
}

/**
 * Incident containment: on disk first (a crash right after still leaves it contained), then the machine, then the
 * downloads in flight are cut. A second containment keeps the first record (the one an operator clears).
 */
async function contain(ctx: Ctx, req: { incidentId: string; reason: string }) {
  const held = ctx.actor.getSnapshot().context.containment;
  const c: AirlockContainment = held ?? { incidentId: req.incidentId, reason: req.reason, at: Date.now() };
  if (!held) writeContainment(containmentPath(ctx.paths.home), c);
  ctx.actor.send({ type: 'airlock.contain', ...c });
  (ctx.actor.getSnapshot().context.downloads as Downloads | null)?.cancelAll();
  if (!held) {
    ctx.log.warn({ incidentId: c.incidentId, reason: c.reason }, 'airlock disabled by an incident');
    await ctx.emitOrLog('contained', c);
  }
  return { disabled: true, already: held !== null };
}

/** The signed operator enable: the record goes first, so a crash in between cannot bring a containment back half-ended. */
async function enable(ctx: Ctx, keyId: string) {
  const was = ctx.actor.getSnapshot().context.containment;
  clearContainment(containmentPath(ctx.paths.home));
  const snap = ctx.actor.getSnapshot().matches('contained')
    ? await ctx.sendAndWait({ type: 'airlock.enable' }, (s) => !s.matches('contained'))
    : ctx.actor.getSnapshot();
  if (was) await ctx.emitOrLog('enabled_by_operator', { incidentId: was.incidentId, keyId });
  return { enabled: snap.matches('enabled'), ...(was && { wasDisabledBy: was }) };
}

function downloads(ctx: Ctx): Downloads {
  const d = ctx.actor.getSnapshot().context.downloads as Downloads | null;
  if (!d) throw new SecaiError(ErrorCode.NOT_READY, 'airlock is starting');
  return d;
}

main<typeof airlockMachine, typeof airlockManifest>({
  manifest: airlockManifest,
  machine: () => airlockMachine,
  // A containment persisted before a crash or a restart: the machine starts contained, before any request.
  input: (ctx) => ({ containment: readContainment(containmentPath(ctx.paths.home)) }),
  publicContext: (c) => ({ requests: c.requests, denied: c.denied, policyDigest: c.policyDigest, containment: c.containment }),
  ops: (ctx) => ({
    fetch: (req: EgressRequest) => egressFetch(egressDeps(ctx), req),
    download: (req: DownloadRequest) => downloads(ctx).start(req),
    download_next: (req: { id: string }) => downloads(ctx).next(req.id),
    download_cancel: (req: { id: string }) => ({ cancelled: downloads(ctx).cancel(req.id) }),
    status: () => status(ctx),
    contain: (req) => contain(ctx, req),
  }),
  commands: (ctx) => ({ status: () => status(ctx), enable: (_req, call) => enable(ctx, call.operator?.keyId ?? '') }),
  start: async (ctx) => {
    // The airlock and models sections from the policy actor, followed on every reload: the machine hears
    // enabled/disabled at once, so status and state show it without a request first.
    let held: Partial<Sections> = {};
    const announce = () => {
      const { airlock, models } = held;
      if (!airlock || !models) return;
      ctx.actor.send({ type: 'airlock.policy', enabled: airlock.value.enabled, digest: airlock.policyDigest, value: viewOf({ airlock, models }).value });
      if (loopbackAllowed(airlock.value, testEnv())) ctx.log.warn('airlock: loopback destinations allowed (test switch and SECAI_TEST=1)');
    };
    const airlock = await configSection(ctx, 'airlock', () => announce());
    const models = await configSection(ctx, 'models', () => announce());
    held = { airlock, models };
    ctx.actor.send({ type: 'airlock.started', downloads: new Downloads(egressDeps(ctx)), sections: held });
    announce();
  },
  stop: (ctx) => {
    (ctx.actor.getSnapshot().context.downloads as Downloads | null)?.cancelAll();
  },
});
