// Integrity monitor process: wiring. The baseline, the findings, the pending changes and the trust state live in machines/integrity.
import { join } from 'node:path';
import { fromCallback, fromPromise } from 'xstate';
import { onEvent } from '../../bus/events.js';
import { applianceKey } from '../../common/appliance-key.js';
import { secaiEnv } from '../../common/env.js';
import { projectRoot } from '../../common/paths.js';
import { getSodium } from '../../common/sodium.js';
import { integrityMachine, statusOf, leafOf, type DiffResult, type IntegrityContext, type IntegrityEvent, type IntegritySettings } from '../../machines/integrity/integrity.machine.js';
import { policyManifest, registryManifest } from '../../runtime/catalog.js';
import { ask } from '../../runtime/ask.js';
import { configSection, readSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { stampFailure } from '../../runtime/stamp-failure.js';
import type { IntegritySection } from '../../policy/sections.js';
import { baselineStore } from './baseline-file.js';
import { canaries, watchCanaries } from './canaries.js';
import { watchChanges } from './change-watch.js';
import { integrityManifest, MAX_LISTED_CHANGES } from './manifest.js';
import { diff, measure, scan, type ScanDeps } from './scan.js';
import { targets } from './targets.js';

type Ctx = ActorContext<typeof integrityMachine>;

const settingsOf = (v: IntegritySection): IntegritySettings => ({
  scanIntervalMs: v.scan_interval_seconds * 1000, fullHashIntervalMs: v.full_hash_interval_seconds * 1000, smallFileBytes: v.small_file_bytes,
  pendingGraceMs: v.pending_grace_seconds * 1000, escalateAfter: v.escalate_after, canaries: v.canaries, levels: { ...v.levels },
});

main<typeof integrityMachine, typeof integrityManifest>({
  manifest: integrityManifest,
  machine: async (ctx) => {
    const sodium = await getSodium();
    const key = await applianceKey(ctx.paths.applianceKey);
    const env = secaiEnv();
    const t = targets({ paths: ctx.paths, configDir: ctx.configDir, projectRoot, natsServer: env.natsServer, pathVar: process.env['PATH'] });
    const planted = canaries(ctx.paths);
    const store = baselineStore({ file: join(ctx.paths.home, 'integrity', 'baseline.json'), anchor: join(ctx.paths.keys, 'integrity.anchor'), key, sodium });
    const deps: ScanDeps = { targets: t, canaries: new Set(planted.map((c) => c.path)), baseline: store, applianceKey: key.publicKey, sodium };
    const publishState = (c: IntegrityContext, state: string) =>
      void ctx.emitOrLog('state_changed', { state, reason: c.reason.slice(0, 1024), findings: Object.keys(c.findings).length, at: Date.now() });
    return integrityMachine.provide({
      actors: {
        openBaseline: fromPromise(() => stampFailure(() => store.open())),
        measure: fromPromise(async () => ({ entries: await measure(deps), at: Date.now() })),
        scan: fromPromise(({ input }) => scan(deps, input)),
        diff: fromPromise(({ input }) => diff(deps, input.entries)),
        ticker: fromCallback<IntegrityEvent>(({ sendBack }) => {
          const timer = setInterval(() => sendBack({ type: 'integrity.tick', now: Date.now() }), 1000);
          return () => clearInterval(timer);
        }),
        changeWatch: fromCallback<IntegrityEvent>(({ sendBack }) =>
          watchChanges(t.roots, planted.map((c) => c.path.slice(c.path.lastIndexOf('/') + 1)), (paths) => sendBack({ type: 'integrity.touched', paths }), ctx.log)),
        canaryWatch: fromCallback<IntegrityEvent, { enabled: boolean }>(({ sendBack, input }) => {
          if (!input.enabled) return () => undefined;
          return watchCanaries(planted, (touch) => sendBack({ type: 'integrity.canary', touch }), (path) => sendBack({ type: 'integrity.canary_watching', path }), ctx.log);
        }),
      },
      actions: {
        saveBaseline: ({ context }) => { if (context.baseline) store.save(context.baseline); },
        publish: ({ context }) => {
          for (const f of context.outbox) {
            ctx.log.warn({ class: f.class, path: f.path, finding: f.level }, f.summary);
            void ctx.emitOrLog('detection', {
              class: f.class, key: f.key.slice(0, 256), summary: f.summary, at: f.at,
              severity: f.kind === 'canary' || f.level === 'recovery_required' ? 'critical' : 'high',
              evidence: { kind: f.kind, path: f.path, level: f.level, count: f.count, ...(f.old !== undefined && { expected: f.old }), ...(f.new !== undefined && { found: f.new }) },
              target: { path: f.path.slice(0, 4096), ...(f.model !== undefined && { model: f.model.slice(0, 128) }) },
            });
          }
        },
        announce: ({ context }, params) => publishState(context, (params as { state: string }).state),
        reportBaselined: ({ context }, params) =>
          void ctx.emitOrLog('baselined', { reason: (params as { reason: string }).reason.slice(0, 1024), generation: context.baseline?.generation ?? 0, files: Object.keys(context.baseline?.entries ?? {}).length, at: Date.now() }),
      },
    });
  },
  input: async (ctx) => ({ settings: settingsOf(await readSection(ctx, 'integrity')), now: Date.now() }),
  publicContext: (c) => ({
    generation: c.baseline?.generation ?? 0, files: Object.keys(c.baseline?.entries ?? {}).length,
    findings: Object.keys(c.findings).length, pending: Object.keys(c.pending).length, lastScan: c.lastScan,
  }),
  ops: (ctx) => ({ status: () => status(ctx) }),
  commands: (ctx) => ({
    status: () => status(ctx),
    diff: async () => {
      const r = await ask<Pick<DiffResult, 'changes' | 'digest'>>(ctx.actor, { type: 'integrity.diff' }, 600_000);
      return { changes: r.changes.slice(0, MAX_LISTED_CHANGES), total: r.changes.length, digest: r.digest };
    },
    rebaseline: (req) => ask<{ generation: number; accepted: number; digest: string }>(ctx.actor, { type: 'integrity.rebaseline', confirm: req.confirm }, 600_000),
  }),
  start: async (ctx) => {
    await configSection(ctx, 'integrity', (v) => { ctx.actor.send({ type: 'integrity.settings', settings: settingsOf(v) }); });
    const registry = ctx.paths.registry;
    const manifest = join(registry, 'manifest.json');
    // A legitimate change names exactly the paths it changed; they are checked now, and explained by what the file says.
    onEvent(ctx.bus, 'policy', 'reloaded', policyManifest.publishes.reloaded, ctx.log, (ev) => {
      ctx.actor.send({ type: 'integrity.policy_reloaded', path: ev.path, digest: ev.digest });
    });
    onEvent(ctx.bus, 'registry', 'promoted', registryManifest.publishes.promoted, ctx.log, (ev) => {
      ctx.actor.send({ type: 'integrity.touched', paths: [join(registry, ev.path.split('/')[0]!), manifest] });
    });
    onEvent(ctx.bus, 'registry', 'removed', registryManifest.publishes.removed, ctx.log, (ev) => {
      ctx.actor.send({ type: 'integrity.touched', paths: [join(registry, ev.sha256), manifest] });
    });
  },
});

function status(ctx: Ctx) {
  const snap = ctx.actor.getSnapshot();
  return statusOf(leafOf(snap.value), snap.context);
}
