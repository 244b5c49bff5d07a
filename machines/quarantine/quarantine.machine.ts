// The quarantine actor's machine: spawns one job machine per import, runs their scans one at a time, and keeps every job's report.
import { assign, enqueueActions, sendTo, setup } from 'xstate';
import { jobMachine, type JobInput, type JobQueuedEvent } from './job.machine.js';
import type { Outcome, PipelineArtifact, PipelineOutput, StageResult } from './scan-stages.js';

export * from './scan-stages.js';
export { jobMachine, phaseOf, stageOf, type DownloadTicket, type JobContext, type JobEvent, type JobInput, type JobPhase } from './job.machine.js';

/**
 * A job's report. While its job machine runs, `state` is null: the machine's state is the job's state (read it
 * with phaseOf on the child's snapshot); the report gets its final state when the job machine finishes.
 */
export interface JobRecord {
  id: string;
  name: string;
  kind: 'file' | 'folder';
  origin: Record<string, unknown>;
  size: number;
  state: Outcome | null;
  reason: string;
  results: StageResult[];
  entry: Record<string, unknown> | null;
  queuedAt: string;
  finishedAt: string | null;
  /** Where the artifact is now: work/<id>, rejected/<id>/, held/<id>/ or the registry; null while downloading. */
  location: string | null;
  /** A rejected artifact whose payload was dropped (retention or the operator): the report stays. */
  purged?: { at: string; bytes: number; by: string };
}

/** Reports kept (the oldest go first); a report on disk stays. */
export const MAX_REPORTS = 1000;
/** Scans at once: one, so a scan has the machine's disk and CPU to itself. */
export const MAX_SCANNING = 1;

export interface QuarantineContext {
  reports: Record<string, JobRecord>;
  /** Job ids waiting for a scanner slot, oldest first. */
  queue: string[];
  /** Job ids being scanned (at most MAX_SCANNING). */
  running: string[];
  done: number;
}

export type QuarantineEvent =
  /** A new job: its report, and the input its job machine starts with. */
  | { type: 'quarantine.create'; report: JobRecord; job: JobInput }
  | JobQueuedEvent
  | { type: 'quarantine.cancel'; id: string; by: string }
  | { type: 'quarantine.purged'; id: string; purged: { at: string; bytes: number; by: string } }
  | { type: `xstate.done.actor.${string}`; output: PipelineOutput }
  | { type: `xstate.error.actor.${string}`; error: unknown };

const DONE = 'xstate.done.actor.';
const ERROR = 'xstate.error.actor.';
const idOf = (type: string) => type.slice(type.startsWith(DONE) ? DONE.length : ERROR.length);

const crashed = (id: string, err: unknown): PipelineOutput =>
  ({ id, outcome: 'rejected', reason: `the pipeline failed: ${err instanceof Error ? err.message : String(err)}`, results: [], entry: null });

/** Where a finished job's artifact is filed. */
export function locationOf(out: PipelineOutput): string {
  return out.outcome === 'promoted' ? `registry/${String(out.entry?.['path'] ?? '')}` : `quarantine/${out.outcome}/${out.id}`;
}

export const quarantineMachine = setup({
  types: {} as { context: QuarantineContext; events: QuarantineEvent; input: { reports?: Record<string, JobRecord> } | undefined },
  actors: { job: jobMachine },
  actions: {
    /** A report was created or changed: the actor writes it and announces `job_queued`. */
    reportTracked: (_, _p: { report: JobRecord; state: 'downloading' | 'queued' }) => {},
    /** A job ended (promoted, rejected or held): the actor files the artifact, writes the report and publishes the verdict. */
    reportFinished: (_, _p: { report: JobRecord | undefined; output: PipelineOutput }) => {},
    /** Starts queued scans while a slot is free. */
    startNext: enqueueActions(({ context, enqueue }) => {
      const running = [...context.running];
      const queue = [...context.queue];
      while (running.length < MAX_SCANNING && queue.length) {
        const id = queue.shift()!;
        running.push(id);
        enqueue.sendTo(id, { type: 'job.start' });
      }
      enqueue.assign({ running, queue });
    }),
    /** A job machine finished: its report gets the verdict and where the artifact is filed; its slot is free. */
    finishJob: enqueueActions(({ context, enqueue }, { id, output }: { id: string; output: PipelineOutput }) => {
      const r = context.reports[id];
      const running = context.running.filter((x) => x !== id);
      const queue = context.queue.filter((x) => x !== id);
      // A finished job machine is dropped: its report (in context) is all that stays of it.
      enqueue.stopChild(id);
      if (!r) {
        enqueue.assign({ running, queue });
        return;
      }
      const report: JobRecord = {
        ...r, state: output.outcome, reason: output.reason, results: output.results, entry: output.entry,
        finishedAt: new Date().toISOString(), location: locationOf(output),
      };
      enqueue.assign({ reports: { ...context.reports, [id]: report }, running, queue, done: context.done + 1 });
    }),
  },
  guards: { scanning: ({ context }) => context.running.length > 0 },
}).createMachine({
  id: 'quarantine',
  initial: 'idle',
  context: ({ input }) => ({ reports: { ...(input?.reports ?? {}) }, queue: [], running: [], done: 0 }),
  on: {
    'quarantine.create': {
      actions: [
        assign({
          reports: ({ context, event }) => {
            const next = { ...context.reports, [event.report.id]: event.report };
            // The oldest finished reports go (they stay on disk); a running job's report never does.
            let over = Object.keys(next).length - MAX_REPORTS;
            for (const [id, r] of Object.entries(next)) {
              if (over <= 0) break;
              if (r.state !== null) { delete next[id]; over--; }
            }
            return next;
          },
        }),
        enqueueActions(({ event, enqueue }) => {
          enqueue.spawnChild('job', { id: event.report.id, input: event.job });
          enqueue({ type: 'reportTracked', params: { report: event.report, state: event.job.download ? 'downloading' : 'queued' } });
        }),
      ],
    },
    'quarantine.job_queued': {
      actions: [
        enqueueActions(({ context, event, enqueue }) => {
          const r = context.reports[event.id];
          if (!r) return;
          enqueue.assign({ queue: [...context.queue, event.id] });
          // A download that arrived: the report now has the file's real size and place, and is announced again.
          if (r.location === null) {
            const report: JobRecord = {
              ...r, ...artifactFields(event.artifact), reason: 'waiting for the scanner', queuedAt: new Date().toISOString(), location: `quarantine/work/${r.id}`,
            };
            enqueue.assign({ reports: { ...context.reports, [r.id]: report } });
            enqueue({ type: 'reportTracked', params: { report, state: 'queued' } });
          }
        }),
        'startNext',
      ],
    },
    // Only a running job has a machine to tell; a cancel for any other id changes nothing (sending it would stop this actor).
    'quarantine.cancel': { guard: ({ context, event }) => context.reports[event.id]?.state === null, actions: sendTo(({ event }) => event.id, ({ event }) => ({ type: 'job.cancel', by: event.by })) },
    'quarantine.purged': {
      actions: assign({
        reports: ({ context, event }) => (context.reports[event.id] ? { ...context.reports, [event.id]: { ...context.reports[event.id]!, purged: event.purged } } : context.reports),
      }),
    },
    'xstate.done.actor.*': {
      actions: [
        { type: 'finishJob', params: ({ event }) => ({ id: idOf(event.type), output: (event as { output: PipelineOutput }).output }) },
        // Resolved after finishJob: it reads the report with its verdict.
        { type: 'reportFinished', params: ({ context, event }) => ({ report: context.reports[idOf(event.type)], output: (event as { output: PipelineOutput }).output }) },
        'startNext',
      ],
    },
    // A job machine that crashes is a rejected job, never a crashed actor.
    'xstate.error.actor.*': {
      actions: [
        {
          type: 'finishJob',
          params: ({ event }) => {
            const id = idOf(event.type);
            return { id, output: crashed(id, (event as { error: unknown }).error) };
          },
        },
        { type: 'reportFinished', params: ({ context, event }) => ({ report: context.reports[idOf(event.type)], output: crashed(idOf(event.type), (event as { error: unknown }).error) }) },
        'startNext',
      ],
    },
  },
  states: {
    idle: { always: { guard: 'scanning', target: 'scanning' } },
    scanning: { always: { guard: ({ context }) => context.running.length === 0, target: 'idle' } },
  },
});

function artifactFields(a: PipelineArtifact) {
  return { name: a.name, kind: a.kind, size: a.size };
}
