// The GPU watch's life: probe, judge, wait probe_interval_seconds, probe again; the verdict (absent, healthy, warning, critical) is the state.
import { assign, fromPromise, setup, type DoneActorEvent } from 'xstate';
import { notProvided } from '../not-provided.js';
import { CLASS_OF, judge, type Baseline, type Finding, type GpuSettings, type Judgement, type Observation, type Verdict } from './score.js';

export interface GpuWatchSettings extends GpuSettings { intervalMs: number }

/** A critical finding not yet reported as a detection: the last probe's, published by `report` (each probe replaces them). */
export interface Report { finding: Finding; class: (typeof CLASS_OF)[keyof typeof CLASS_OF]; score: number; verdict: Verdict; at: number }

export interface GpuWatchContext {
  settings: GpuWatchSettings;
  baseline: Baseline | null;
  /** The last probe and what it was judged. */
  observation: Observation | null;
  judgement: Judgement | null;
  /** The verdict before the last probe: the actor announces a change. */
  previous: Verdict | null;
  probes: number;
  /** Finding keys already reported while critical: a standing cause is reported once, not at every probe. */
  reported: string[];
  outbox: Report[];
}

export type GpuWatchEvent =
  | { type: 'gpu-watch.probe' }
  | { type: 'gpu-watch.settings'; settings: GpuWatchSettings };

const probed = (e: unknown) => (e as DoneActorEvent<Observation>).output;

/** What a probe that threw (it should return failures as data) is judged as: an unreadable probe, at least warning. */
export function failedObservation(error: string, at: number): Observation {
  const failed = { state: 'failed' as const, error };
  return { at, driver: failed, devices: failed, smi: { state: 'absent' }, xids: { state: 'absent' } };
}

function judged(context: GpuWatchContext, o: Observation): Partial<GpuWatchContext> {
  const j = judge(o, context.settings, context.baseline);
  const critical = j.verdict === 'critical';
  const fresh = critical ? j.findings.filter((f) => !context.reported.includes(f.key)) : [];
  return {
    observation: o, judgement: j, baseline: j.baseline, probes: context.probes + 1,
    previous: context.judgement?.verdict ?? null,
    // Below critical the slate is wiped: the same cause coming back is reported again (the incident actor counts it).
    reported: critical ? [...context.reported, ...fresh.map((f) => f.key)] : [],
    outbox: fresh.map((f) => ({ finding: f, class: CLASS_OF[f.kind], score: j.score, verdict: j.verdict, at: o.at })),
  };
}

const verdictIs = (v: Verdict) => ({ context }: { context: GpuWatchContext }) => context.judgement?.verdict === v;

/** One verdict state: waits the interval (or a probe request), probes, and goes to the state the probe is judged. */
const verdictState = () => ({
  initial: 'waiting' as const,
  states: {
    waiting: {
      after: { interval: 'probing' },
      on: { 'gpu-watch.probe': 'probing' },
    },
    probing: {
      invoke: {
        id: 'reprobe', src: 'probe' as const,
        onDone: { target: '#gpu-watch.judging', actions: 'recordProbe' as const },
        onError: { target: '#gpu-watch.judging', actions: 'recordProbeError' as const },
      },
    },
  },
});

export const gpuWatchMachine = setup({
  types: {} as { context: GpuWatchContext; input: { settings: GpuWatchSettings }; events: GpuWatchEvent },
  actors: {
    /** Reads every source (driver version, sysfs, nvidia-smi, kernel log); failures come back as data in the observation. */
    probe: fromPromise<Observation>(notProvided('probe')),
  },
  actions: {
    recordProbe: assign(({ context, event }) => judged(context, probed(event))),
    recordProbeError: assign(({ context, event }) => judged(context, failedObservation(String((event as { error?: unknown }).error ?? 'probe failed').slice(0, 1024), Date.now()))),
    /** Publishes the outbox as detections, and the verdict when it changed. */
    report: notProvided('report'),
  },
  guards: {
    absent: verdictIs('absent'),
    healthy: verdictIs('healthy'),
    warning: verdictIs('warning'),
  },
  delays: {
    interval: ({ context }) => context.settings.intervalMs,
  },
}).createMachine({
  id: 'gpu-watch',
  context: ({ input }) => ({ settings: input.settings, baseline: null, observation: null, judgement: null, previous: null, probes: 0, reported: [], outbox: [] }),
  initial: 'starting',
  on: {
    'gpu-watch.settings': { actions: assign({ settings: ({ event }) => event.settings }) },
  },
  states: {
    // The first probe of this start: status says `starting` until it is judged.
    starting: {
      invoke: {
        id: 'probe', src: 'probe',
        onDone: { target: 'judging', actions: 'recordProbe' },
        onError: { target: 'judging', actions: 'recordProbeError' },
      },
    },
    // Transient: reports, then moves to the verdict's state.
    judging: {
      entry: 'report',
      always: [
        { guard: 'absent', target: 'absent' },
        { guard: 'healthy', target: 'healthy' },
        { guard: 'warning', target: 'warning' },
        { target: 'critical' },
      ],
    },
    // No NVIDIA device or driver and policy requires none: declared, probed again (a GPU may be hot-plugged).
    absent: verdictState(),
    healthy: verdictState(),
    warning: verdictState(),
    // A detection per new critical finding went to the incident actor; the watch keeps probing.
    critical: verdictState(),
  },
});

/** The verdict state a snapshot is in (`starting` before the first judgement). */
export function verdictOfState(value: unknown): Verdict | 'starting' {
  const top = typeof value === 'string' ? value : Object.keys(value as object)[0];
  return top === 'absent' || top === 'healthy' || top === 'warning' || top === 'critical' ? top : 'starting';
}
