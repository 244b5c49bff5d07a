// One quarantine job's whole life as a machine: downloading → queued → scanning (one state per stage) → promoted, rejected, held or cancelled.
import { assign, enqueueActions, fromCallback, fromPromise, setup } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { notProvided } from '../not-provided.js';
import {
  outputOf, promotingState, scanEffects, scanGuards, scanStates,
  type PipelineArtifact, type PipelineContext, type PipelineJob, type PipelineOutput, type StageResult,
} from './scan-stages.js';

/** A download the airlock has already started (its 200 answer came): the job pulls its bytes. */
export interface DownloadTicket {
  /** The airlock's download id. */
  id: string;
  /** The final URL (after redirects). */
  url: string;
  limit: number;
  length?: number;
}

export interface JobInput extends PipelineJob {
  /** Set for a URL import: the job starts `downloading`; otherwise the artifact is in work/ already and it starts `queued`. */
  download: DownloadTicket | null;
}

export interface JobContext extends PipelineContext {
  download: DownloadTicket | null;
  /** Bytes received so far (download progress, as last reported). */
  received: number;
  /** Who cancelled the download (set once a cancel was asked and the airlock agreed). */
  cancelledBy: string | null;
  /** Why the last cancel request failed (the download goes on). */
  cancelError: string | null;
}

export type JobEvent =
  | { type: 'job.progress'; bytes: number }
  /** The download arrived, was verified and taken into work/: the artifact the scan will see. */
  | { type: 'job.downloaded'; artifact: PipelineArtifact }
  | { type: 'job.download_failed'; message: string; code: string; bytes: number; durationMs: number }
  | { type: 'job.start' }
  | { type: 'job.cancel'; by: string };

/** Sent to the parent when the job is waiting for a scanner slot (its artifact is complete). */
export interface JobQueuedEvent { type: 'quarantine.job_queued'; id: string; artifact: PipelineArtifact }

/** The state a job is in as the reports call it (the machine's own state, read off its snapshot). */
export type JobPhase = 'downloading' | 'queued' | 'scanning';

type DoneEvent = { type: string; output?: unknown; error?: unknown };

const sourceFail = (context: JobContext, reason: string, bytes: number, code: string, durationMs: number): StageResult => ({
  stage: 'source', verdict: 'fail', reason, evidence: { url: context.download?.url ?? null, bytes, code }, durationMs,
});

/** The job's verdict once its cancelled download stopped: rejected, naming who cancelled and how far it got. */
function cancelledAs(context: JobContext, e: { bytes: number; code: string; durationMs: number }) {
  const reason = `download cancelled by ${context.cancelledBy ?? 'someone'} after ${e.bytes} bytes`.slice(0, 4096);
  return { outcome: 'rejected' as const, reason, received: e.bytes, results: [sourceFail(context, reason, e.bytes, e.code, e.durationMs)] };
}

export const jobMachine = setup({
  types: {} as { context: JobContext; input: JobInput; output: PipelineOutput; events: JobEvent | DoneEvent },
  actors: {
    ...scanEffects,
    /** Pulls the download into work/ and ingests it; sends job.progress, then job.downloaded or job.download_failed. */
    download: fromCallback<{ type: string }, { id: string; download: DownloadTicket; origin: PipelineArtifact['origin'] }>(notProvided('download')),
    /** Asks the airlock to cancel the download; the pull then fails and the job ends cancelled. */
    cancelDownload: fromPromise<void, { id: string; download: DownloadTicket }>(notProvided('cancelDownload')),
  },
  actions: {
    /** Called after every recorded stage: the actor publishes secai.evt.quarantine.stage. */
    stageRecorded: (_, _p: { result: StageResult }) => {},
  },
  guards: {
    ...scanGuards,
    isDownload: ({ context }) => context.download !== null,
  },
}).createMachine({
  id: 'job',
  initial: 'starting',
  context: ({ input }) => ({
    job: { id: input.id, artifact: input.artifact, policy: input.policy, behavioralAvailable: input.behavioralAvailable },
    download: input.download, results: [], outcome: null, reason: '', entry: null, received: 0, cancelledBy: null, cancelError: null,
  }),
  states: {
    starting: { always: [{ guard: 'isDownload', target: 'downloading' }, { target: 'queued' }] },
    downloading: {
      initial: 'receiving',
      // On the parent state: the pull goes on while a cancel is asked, and its failure is what ends the job.
      invoke: {
        id: 'download',
        src: 'download',
        input: ({ context }) => ({ id: context.job.id, download: context.download!, origin: context.job.artifact.origin }),
      },
      on: {
        'job.progress': { actions: assign({ received: ({ event }) => (event as { bytes: number }).bytes }) },
      },
      states: {
        receiving: {
          on: {
            'job.cancel': { target: 'cancelling', actions: assign({ cancelledBy: ({ event }) => (event as { by: string }).by, cancelError: null }) },
            'job.downloaded': { target: '#job.queued', actions: assign({ job: ({ context, event }) => ({ ...context.job, artifact: (event as { artifact: PipelineArtifact }).artifact }) }) },
            'job.download_failed': {
              target: '#job.rejected',
              actions: assign(({ context, event }) => {
                const e = event as Extract<JobEvent, { type: 'job.download_failed' }>;
                const reason = `download failed: ${e.message}`.slice(0, 4096);
                return { outcome: 'rejected' as const, reason, received: e.bytes, results: [sourceFail(context, reason, e.bytes, e.code, e.durationMs)] };
              }),
            },
          },
        },
        cancelling: {
          invoke: {
            id: 'cancelDownload',
            src: 'cancelDownload',
            input: ({ context }) => ({ id: context.job.id, download: context.download! }),
            onDone: 'cancelRequested',
            // The airlock did not take the cancel: the download goes on, and the caller hears why.
            onError: {
              target: 'receiving',
              actions: assign({ cancelledBy: null, cancelError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }),
            },
          },
        },
        cancelRequested: {
          on: {
            // Whatever the pull says now (it failed as asked, or it won the race), the job was cancelled: nothing is scanned.
            'job.download_failed': { target: '#job.cancelled', actions: assign(({ context, event }) => cancelledAs(context, event as Extract<JobEvent, { type: 'job.download_failed' }>)) },
            'job.downloaded': {
              target: '#job.cancelled',
              actions: assign(({ context, event }) => ({
                ...cancelledAs(context, { bytes: context.received, code: ErrorCode.CANCELLED, durationMs: 0 }),
                job: { ...context.job, artifact: (event as { artifact: PipelineArtifact }).artifact },
              })),
            },
          },
        },
      },
    },
    queued: {
      // Computed alone (transition() in a test) a job has no parent to tell; run by the quarantine machine it always has.
      entry: enqueueActions(({ context, self, enqueue }) => {
        if ((self as { _parent?: unknown })._parent) enqueue.sendParent({ type: 'quarantine.job_queued', id: context.job.id, artifact: context.job.artifact } satisfies JobQueuedEvent);
      }),
      on: { 'job.start': 'scanning' },
    },
    scanning: {
      initial: 'source',
      states: scanStates({ rejected: '#job.rejected', held: '#job.held', promoting: '#job.promoting' }),
    },
    promoting: promotingState({ promoted: 'promoted', rejected: 'rejected' }),
    promoted: { type: 'final' },
    rejected: { type: 'final' },
    held: { type: 'final' },
    // A cancelled download is reported as a rejection (what the UI and CLI have always shown), with who cancelled it.
    cancelled: { type: 'final' },
  },
  output: outputOf as never,
});

/** What the reports call a running job's state, from its machine state value. */
export function phaseOf(value: unknown): JobPhase {
  if (value === 'starting' || value === 'downloading' || (typeof value === 'object' && value !== null && 'downloading' in value)) return 'downloading';
  if (value === 'queued') return 'queued';
  return 'scanning';
}

/** The stage a scanning job is in (or `promote`), for the Machines page; null outside the scan. */
export function stageOf(value: unknown): string | null {
  if (value === 'promoting') return 'promote';
  if (typeof value === 'object' && value !== null && 'scanning' in value) return String((value as { scanning: unknown }).scanning);
  return null;
}
