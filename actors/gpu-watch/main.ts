// GPU watch process: wiring. The verdict, findings and baseline live in machines/gpu-watch; probe.ts reads the GPU stack.
import { fromPromise, waitFor } from 'xstate';
import { secaiEnv } from '../../common/env.js';
import type { Detection } from '../../contracts/detection.js';
import { gpuWatchMachine, verdictOfState, type GpuWatchContext, type GpuWatchSettings, type Report } from '../../machines/gpu-watch/gpu-watch.machine.js';
import { CLASS_OF, type Finding, type Source } from '../../machines/gpu-watch/score.js';
import type { GpuWatchSection } from '../../policy/sections.js';
import { configSection, readSection } from '../../runtime/config-section.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { gpuWatchManifest } from './manifest.js';
import { probe, probeDeps } from './probe.js';

type Ctx = ActorContext<typeof gpuWatchMachine>;

const settingsOf = (v: GpuWatchSection): GpuWatchSettings => ({
  intervalMs: v.probe_interval_seconds * 1000, allowed_devices: v.allowed_devices, expected_driver_versions: v.expected_driver_versions,
  require_allowed_present: v.require_allowed_present, weights: { ...v.weights }, warning_score: v.warning_score, critical_score: v.critical_score,
  max_temperature_c: v.max_temperature_c,
});

const listed = (f: Finding) => ({ kind: f.kind, class: CLASS_OF[f.kind], key: f.key.slice(0, 256), summary: f.summary.slice(0, 1024), weight: f.weight });
const sourceOf = (src: Source<unknown> | undefined) => (src ? { state: src.state, ...(src.state === 'failed' && { error: src.error.slice(0, 1024) }) } : { state: 'absent' as const });

export function statusOf(value: unknown, c: GpuWatchContext) {
  const o = c.observation;
  const j = c.judgement;
  return {
    state: verdictOfState(value),
    score: j?.score ?? 0,
    findings: (j?.findings ?? []).map(listed),
    driverVersion: o?.driver.state === 'ok' ? o.driver.value : null,
    devices: o?.devices.state === 'ok' ? o.devices.value.slice(0, 64) : [],
    gpus: o?.smi.state === 'ok' ? o.smi.value.slice(0, 64) : [],
    xids: o?.xids.state === 'ok' ? o.xids.value.length : 0,
    sources: { driver: sourceOf(o?.driver), sysfs: sourceOf(o?.devices), smi: sourceOf(o?.smi), kernelLog: sourceOf(o?.xids) },
    baseline: c.baseline,
    probes: c.probes,
    probedAt: o?.at ?? null,
    intervalMs: c.settings.intervalMs,
  };
}

/** One critical finding as the incident actor's input: the whole probe's findings go along as evidence. */
function detectionOf(r: Report, c: GpuWatchContext): Detection {
  const f = r.finding;
  const bus = typeof f.evidence['bus'] === 'string' ? f.evidence['bus'] : undefined;
  return {
    class: r.class,
    key: `gpu:${f.key}`.slice(0, 256),
    summary: `GPU watch critical (score ${r.score}): ${f.summary}`.slice(0, 1024),
    severity: 'critical',
    evidence: {
      finding: f.kind, weight: f.weight, ...f.evidence, score: r.score, verdict: r.verdict,
      findings: (c.judgement?.findings ?? []).map(listed),
      driverVersion: c.observation?.driver.state === 'ok' ? c.observation.driver.value : null,
      baseline: c.baseline,
    },
    target: { path: bus ? `/sys/bus/pci/devices/${bus}` : '/proc/driver/nvidia/version' },
    at: r.at,
  };
}

main<typeof gpuWatchMachine, typeof gpuWatchManifest>({
  manifest: gpuWatchManifest,
  machine: (ctx) => {
    const env = secaiEnv();
    return gpuWatchMachine.provide({
      // Where nvidia-smi is is looked up at each probe: a driver installed after start is seen.
      actors: { probe: fromPromise(() => probe(probeDeps(env.gpuRoot, process.env['PATH']))) },
      actions: {
        report: ({ context }) => {
          const j = context.judgement;
          if (!j) return;
          for (const r of context.outbox) {
            ctx.log.warn({ class: r.class, key: r.finding.key, score: r.score }, r.finding.summary);
            void ctx.emitOrLog('detection', detectionOf(r, context));
          }
          if (context.previous !== j.verdict) {
            if (j.verdict !== 'absent' && j.verdict !== 'healthy') ctx.log.warn({ verdict: j.verdict, score: j.score, findings: j.findings.length }, 'GPU watch verdict');
            void ctx.emitOrLog('verdict_changed', { verdict: j.verdict, previous: context.previous, score: j.score, findings: j.findings.map(listed), at: context.observation?.at ?? Date.now() });
          }
        },
      },
    });
  },
  input: async (ctx) => ({ settings: settingsOf(await readSection(ctx, 'gpu_watch')) }),
  publicContext: (c) => ({ verdict: c.judgement?.verdict ?? null, score: c.judgement?.score ?? 0, findings: c.judgement?.findings.length ?? 0, probes: c.probes }),
  ops: (ctx) => ({ status: () => status(ctx) }),
  commands: (ctx) => ({
    status: () => status(ctx),
    probe: async () => {
      const before = ctx.actor.getSnapshot().context.probes;
      const snap = await ctx.sendAndWait({ type: 'gpu-watch.probe' }, (s) => s.context.probes > before, 25_000);
      return statusOf(snap.value, snap.context);
    },
  }),
  start: async (ctx) => {
    await configSection(ctx, 'gpu_watch', (v) => { ctx.actor.send({ type: 'gpu-watch.settings', settings: settingsOf(v) }); });
    // Ready means probed: `gpu status` right after `secai up` answers a verdict, never `starting`.
    await waitFor(ctx.actor, (snap) => !snap.matches('starting'), { timeout: 60_000 });
  },
});

function status(ctx: Ctx) {
  const snap = ctx.actor.getSnapshot();
  return statusOf(snap.value, snap.context);
}
