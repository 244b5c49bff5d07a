// Airlock process: every egress request of the appliance, checked, scanned, pinned and audited.
import { airlockMachine } from '../../machines/airlock/airlock.machine.js';
import type { DecisionResult } from '../../policy/decide/index.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { Downloads, type DownloadRequest } from './download.js';
import { egressFetch, loopbackAllowed, systemResolver, testHostsResolver, type EgressDeps, type EgressEvidence, type EgressRequest } from './egress.js';
import { airlockManifest } from './manifest.js';

let cached: PolicySnapshot | undefined;
let downloads: Downloads | undefined;
// The test hosts map only ever applies with the loopback test switch on (and SECAI_TEST=1): see egress.ts.
const resolve = testHostsResolver(systemResolver, () => cached?.value.airlock, process.env);

async function policyFor(ctx: ActorContext, digest?: string): Promise<PolicySnapshot> {
  if (!cached || (digest !== undefined && cached.digest !== digest)) {
    const s = await ctx.bus.request<{ digest: string; policy: PolicySnapshot['value'] }>('policy', 'show');
    cached = { digest: s.digest, value: s.policy };
    ctx.actor.send({ type: 'airlock.policy', enabled: s.policy.airlock.enabled, digest: s.digest });
    if (loopbackAllowed(s.policy.airlock, process.env)) ctx.log.warn('airlock: loopback destinations allowed (test switch and SECAI_TEST=1)');
  }
  return cached;
}

function evidence(ctx: ActorContext, e: EgressEvidence): void {
  ctx.actor.send({ type: 'airlock.request', allowed: e.decision === 'allow' && !e.reason });
  const ev = { ...e, ...(e.reason !== undefined && { reason: e.reason.slice(0, 1024) }) };
  void ctx.emit('egress', ev).catch((err: unknown) => ctx.log.error({ err }, 'egress event not acknowledged'));
}

async function status(ctx: ActorContext) {
  const p = await policyFor(ctx);
  const c = ctx.actor.getSnapshot().context as { requests: number; denied: number };
  const a = p.value.airlock;
  return {
    enabled: a.enabled, loopbackForTests: loopbackAllowed(a, process.env),
    destinations: a.destinations.map((d) => `${d.id}: ${d.methods.join(',')} ${d.schemes.join('|')}://${d.host}:${d.ports.join(',')}${d.path_prefix}`),
    requests: c.requests, denied: c.denied, policyDigest: p.digest,
  };
}

function egressDeps(ctx: ActorContext): EgressDeps {
  return {
    decide: (domain, input) => ctx.bus.request<DecisionResult>('policy', 'decide', { domain, input }),
    policy: (digest) => policyFor(ctx, digest),
    resolve,
    env: process.env,
    evidence: (e) => evidence(ctx, e),
  };
}

function needDownloads(ctx: ActorContext): Downloads {
  downloads ??= new Downloads(egressDeps(ctx));
  return downloads;
}

main({
  manifest: airlockManifest,
  machine: () => airlockMachine,
  publicContext: (c) => ({ requests: c.requests, denied: c.denied, policyDigest: c.policyDigest }),
  ops: (ctx) => ({
    fetch: (req: EgressRequest) => egressFetch(egressDeps(ctx), req),
    download: (req: DownloadRequest) => needDownloads(ctx).start(req),
    download_next: (req: { id: string }) => needDownloads(ctx).next(req.id),
    download_cancel: (req: { id: string }) => ({ cancelled: needDownloads(ctx).cancel(req.id) }),
    status: () => status(ctx),
  }),
  commands: (ctx) => ({ status: () => status(ctx) }),
  start: async (ctx) => {
    // Learn the policy at start so status and state show enabled/disabled without a request first.
    await policyFor(ctx).catch((err: unknown) => ctx.log.warn({ err }, 'policy not reachable yet'));
  },
  stop: () => {
    downloads?.cancelAll();
  },
});
