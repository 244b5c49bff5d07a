// Supervision of one model's llm worker: start, serve a fair queue one request at a time, restart on crash or session end.
import { assign, fromPromise, setup } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { notProvided } from '../not-provided.js';

export interface QueuedRequest {
  id: string;
  /** Who asked (API client or chat session): the queue is round-robin across these. */
  client: string;
}

export interface WorkerModel {
  name: string;
  path: string;
  sha256: string;
}

export interface WorkerContext {
  model: WorkerModel | null;
  queue: QueuedRequest[];
  /** When each client with queued work was last served (a sequence number): the queue is round-robin. */
  lastServed: Record<string, number>;
  served: number;
  current: QueuedRequest | null;
  /** Consecutive failed starts or crashes; a served request resets it. */
  crashes: number;
  maxCrashes: number;
  restartOnSessionEnd: boolean;
  restartReason: 'crash' | 'session' | null;
  /** Where draining goes when the running request ends. */
  drainTo: 'idle' | 'restarting' | null;
  error: { code: string; message: string } | null;
  info: Record<string, unknown> | null;
}

export type WorkerEvent =
  | { type: 'worker.load'; model: WorkerModel }
  | { type: 'worker.unload' }
  /** `error`: why the actor killed it (a memory limit), which the request it ran fails with; else WORKER_CRASHED. */
  | { type: 'worker.exited'; code: number | null; signal: string | null; error?: { code: string; message: string } }
  | { type: 'request.enqueue'; request: QueuedRequest }
  | { type: 'request.cancel'; id: string }
  | { type: 'request.finished'; id: string }
  | { type: 'session.end'; client: string };

/**
 * Codes that no restart can fix: the model itself is refused. A worker that broke the protocol while
 * loading is not restarted either: the model it loads makes it lie (or worse). Nor one that outgrew its memory
 * limit while loading: the same model needs the same memory again.
 */
export const PERMANENT_CODES = new Set<string>([ErrorCode.MODEL_INVALID, ErrorCode.DIGEST_MISMATCH, ErrorCode.SANDBOX_UNAVAILABLE, ErrorCode.WORKER_PROTOCOL, ErrorCode.WORKER_MEMORY]);

/**
 * Picks the next request fairly: among clients with something queued, the one served least recently
 * (never served first, then by its oldest request), and that client's oldest request.
 */
export function pickNext(queue: readonly QueuedRequest[], lastServed: Readonly<Record<string, number>>, seq: number): { next: QueuedRequest; queue: QueuedRequest[]; lastServed: Record<string, number> } | null {
  let next: QueuedRequest | undefined;
  for (const q of queue) {
    if (!next || (lastServed[q.client] ?? -1) < (lastServed[next.client] ?? -1)) next = q;
  }
  if (!next) return null;
  const chosen = next;
  const kept = Object.fromEntries(Object.entries(lastServed).filter(([c]) => queue.some((q) => q.client === c)));
  return { next: chosen, queue: queue.filter((q) => q !== chosen), lastServed: { ...kept, [chosen.client]: seq } };
}

export function backoffMs(crashes: number): number {
  return Math.min(30_000, 250 * 2 ** Math.max(0, crashes - 1));
}

const errorOf = (e: unknown): { code: string; message: string } => {
  const x = e as { code?: unknown; message?: unknown } | undefined;
  return { code: typeof x?.code === 'string' ? x.code : ErrorCode.WORKER_CRASHED, message: typeof x?.message === 'string' ? x.message : String(e) };
};

export const workerMachine = setup({
  types: {} as {
    context: WorkerContext;
    events: WorkerEvent;
    input: { maxCrashes?: number; restartOnSessionEnd?: boolean };
  },
  actors: {
    startWorker: fromPromise<Record<string, unknown>, { model: WorkerModel }>(notProvided('startWorker')),
    stopWorker: fromPromise<void>(notProvided('stopWorker')),
  },
  actions: {
    /** Sends the request to the worker. */
    dispatch: notProvided('dispatch') as (_: unknown, p: { id: string }) => void,
    /** Asks the worker to stop generating this request. */
    cancelRunning: notProvided('cancelRunning') as (_: unknown, p: { id: string }) => void,
    /** Ends requests with an error (never reached the worker, or the worker died under them). */
    rejectRequests: notProvided('rejectRequests') as (_: unknown, p: { ids: string[]; code: string; message: string }) => void,
    /** The worker started with this model (info), or failed for good. */
    reportLoaded: notProvided('reportLoaded'),
    reportFailed: notProvided('reportFailed') as (_: unknown, p: { code: string; message: string }) => void,
  },
  delays: {
    backoff: ({ context }) => (context.restartReason === 'crash' ? backoffMs(context.crashes) : 0),
  },
  guards: {
    permanent: ({ event }) => PERMANENT_CODES.has(errorOf((event as { error?: unknown }).error).code),
    tooManyCrashes: ({ context }) => context.crashes + 1 > context.maxCrashes,
    hasQueue: ({ context }) => context.queue.length > 0,
    isCurrent: ({ context, event }) => 'id' in event && context.current?.id === event.id,
    isQueued: ({ context, event }) => 'id' in event && context.queue.some((q) => q.id === event.id),
    restartsOnSessionEnd: ({ context }) => context.restartOnSessionEnd,
    drainDone: ({ context }) => context.current === null,
    drainToIdle: ({ context }) => context.drainTo === 'idle',
  },
}).createMachine({
  id: 'worker',
  initial: 'idle',
  context: ({ input }) => ({
    model: null, queue: [], lastServed: {}, served: 0, current: null, crashes: 0,
    maxCrashes: input.maxCrashes ?? 5, restartOnSessionEnd: input.restartOnSessionEnd ?? true,
    restartReason: null, drainTo: null, error: null, info: null,
  }),
  on: {
    'request.enqueue': {
      actions: assign({
        queue: ({ context, event }) => [...context.queue, event.request],
      }),
    },
    'request.cancel': {
      guard: 'isQueued',
      actions: [
        { type: 'rejectRequests', params: ({ event }) => ({ ids: [event.id], code: ErrorCode.CANCELLED, message: 'cancelled before it started' }) },
        assign({ queue: ({ context, event }) => context.queue.filter((q) => q.id !== event.id) }),
      ],
    },
  },
  states: {
    idle: {
      entry: [
        { type: 'rejectRequests', params: ({ context }) => ({ ids: context.queue.map((q) => q.id), code: ErrorCode.MODEL_NOT_LOADED, message: 'the model is not loaded' }) },
        assign({ queue: [], current: null, model: null, info: null, drainTo: null }),
      ],
      on: {
        'worker.load': { target: 'starting', actions: assign({ model: ({ event }) => event.model, crashes: 0, error: null }) },
        'request.enqueue': {
          actions: { type: 'rejectRequests', params: ({ event }) => ({ ids: [event.request.id], code: ErrorCode.MODEL_NOT_LOADED, message: 'the model is not loaded' }) },
        },
      },
    },
    starting: {
      invoke: {
        id: 'startWorker',
        src: 'startWorker',
        input: ({ context }) => ({ model: context.model! }),
        onDone: { target: 'ready', actions: [assign({ info: ({ event }) => event.output, error: null }), 'reportLoaded'] },
        onError: [
          { guard: 'permanent', target: 'failed', actions: assign({ error: ({ event }) => errorOf(event.error) }) },
          { guard: 'tooManyCrashes', target: 'failed', actions: assign({ error: ({ event }) => errorOf(event.error), crashes: ({ context }) => context.crashes + 1 }) },
          { target: 'restarting', actions: assign({ error: ({ event }) => errorOf(event.error), crashes: ({ context }) => context.crashes + 1, restartReason: 'crash' }) },
        ],
      },
      on: { 'worker.unload': { target: 'restarting', actions: assign({ drainTo: 'idle' }) } },
    },
    ready: {
      always: {
        guard: 'hasQueue',
        target: 'busy',
        actions: [
          assign(({ context }) => {
            const p = pickNext(context.queue, context.lastServed, context.served)!;
            return { current: p.next, queue: p.queue, lastServed: p.lastServed, served: context.served + 1 };
          }),
          { type: 'dispatch', params: ({ context }) => ({ id: context.current!.id }) },
        ],
      },
      on: {
        'worker.exited': { target: 'restarting', actions: assign({ crashes: ({ context }) => context.crashes + 1, restartReason: 'crash' }) },
        'worker.unload': { target: 'draining', actions: assign({ drainTo: 'idle' }) },
        'session.end': { guard: 'restartsOnSessionEnd', target: 'draining', actions: assign({ drainTo: 'restarting', restartReason: 'session' }) },
      },
    },
    busy: {
      on: {
        'request.finished': { guard: 'isCurrent', target: 'ready', actions: assign({ current: null, crashes: 0 }) },
        'request.cancel': [
          { guard: 'isCurrent', actions: { type: 'cancelRunning', params: ({ event }) => ({ id: event.id }) } },
          {
            guard: 'isQueued',
            actions: [
              { type: 'rejectRequests', params: ({ event }) => ({ ids: [event.id], code: ErrorCode.CANCELLED, message: 'cancelled before it started' }) },
              assign({ queue: ({ context, event }) => context.queue.filter((q) => q.id !== event.id) }),
            ],
          },
        ],
        'worker.exited': {
          target: 'restarting',
          actions: [
            {
              type: 'rejectRequests',
              params: ({ context, event }) => ({ ids: [context.current!.id], code: event.error?.code ?? ErrorCode.WORKER_CRASHED, message: event.error?.message ?? 'the model worker stopped during generation' }),
            },
            assign({ current: null, crashes: ({ context }) => context.crashes + 1, restartReason: 'crash' }),
          ],
        },
        'worker.unload': { target: 'draining', actions: assign({ drainTo: 'idle' }) },
        'session.end': { guard: 'restartsOnSessionEnd', target: 'draining', actions: assign({ drainTo: 'restarting', restartReason: 'session' }) },
      },
    },
    draining: {
      // Let the running request finish; an unload also ends what is still queued.
      entry: [
        {
          type: 'rejectRequests',
          params: ({ context }) => ({ ids: context.drainTo === 'idle' ? context.queue.map((q) => q.id) : [], code: ErrorCode.CANCELLED, message: 'the model is being unloaded' }),
        },
        assign({ queue: ({ context }) => (context.drainTo === 'idle' ? [] : context.queue) }),
        // An unload does not wait for a long generation: the running request is cut (it ends as cancelled).
        { type: 'cancelRunning', params: ({ context }) => ({ id: context.drainTo === 'idle' && context.current ? context.current.id : '' }) },
      ],
      always: [
        { guard: 'drainDone', target: 'restarting' },
      ],
      on: {
        'request.finished': { guard: 'isCurrent', actions: assign({ current: null }) },
        'request.cancel': { guard: 'isCurrent', actions: { type: 'cancelRunning', params: ({ event }) => ({ id: event.id }) } },
        'worker.exited': {
          actions: [
            { type: 'rejectRequests', params: ({ context }) => ({ ids: context.current ? [context.current.id] : [], code: ErrorCode.WORKER_CRASHED, message: 'the model worker stopped during generation' }) },
            assign({ current: null }),
          ],
        },
      },
    },
    restarting: {
      initial: 'stopping',
      states: {
        stopping: {
          invoke: { id: 'stopWorker', src: 'stopWorker', onDone: 'waiting', onError: 'waiting' },
        },
        waiting: {
          always: { guard: 'drainToIdle', target: '#worker.idle' },
          after: { backoff: '#worker.starting' },
        },
      },
      on: {
        'worker.unload': { actions: assign({ drainTo: 'idle' }) },
        'worker.exited': {},
      },
      exit: assign({ drainTo: null }),
    },
    failed: {
      entry: [
        { type: 'rejectRequests', params: ({ context }) => ({ ids: context.queue.map((q) => q.id), code: context.error?.code ?? ErrorCode.WORKER_CRASHED, message: context.error?.message ?? 'the worker failed' }) },
        assign({ queue: [] }),
        { type: 'reportFailed', params: ({ context }) => context.error ?? { code: ErrorCode.WORKER_CRASHED, message: 'the worker failed' } },
      ],
      invoke: { id: 'stopWorker', src: 'stopWorker' },
      on: {
        'worker.load': { target: 'starting', actions: assign({ model: ({ event }) => event.model, crashes: 0, error: null }) },
        'worker.unload': 'idle',
        'request.enqueue': {
          actions: { type: 'rejectRequests', params: ({ context, event }) => ({ ids: [event.request.id], code: context.error?.code ?? ErrorCode.WORKER_CRASHED, message: context.error?.message ?? 'the worker failed' }) },
        },
      },
    },
  },
});
