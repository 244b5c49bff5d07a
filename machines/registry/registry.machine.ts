// The registry's life: opening → serving ⇄ promoting / removing / suspending / unsuspending (one write at a time, the rest queued), reads side by side, tampered for good.
import { assertEvent, assign, emit, enqueueActions, fromPromise, setup, spawnChild } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { notProvided } from '../not-provided.js';
import { asFailure, replyError, replyOk, type Reply, type Request } from '../request.js';

/** Who asked for a removal, as the `removed` event records it (a key id or a session handle, never a secret). */
export type RemovedBy = { by: 'operator'; keyId: string } | { by: 'web session'; session: string };

/** A read: answered by its own child actor, so a long verify or a promotion never holds up a listing. `load`: a get to load the model (a suspended one is refused). */
export type RegistryRead = { kind: 'list' } | { kind: 'get'; name: string; load?: boolean } | { kind: 'verify'; name?: string };

/** One suspended model: its bytes (every name they carry), the incident that asked (`by`) and why. */
export interface SuspendedModel { sha256: string; names: string[]; by: string; reason: string; at: number }

/**
 * The signed suspension record as the registry holds it. `untrusted` (the record was edited, re-signed by another
 * key or deleted): every model counts as suspended until an operator clears each one (fail closed).
 */
export interface Suspensions { records: SuspendedModel[]; seq: number; untrusted: string | null }

/** A read's effect gets the suspensions in force with it (a listing marks them, `get` refuses them). */
export type RegistryReadInput = RegistryRead & { suspensions: Suspensions };

/** A suspension or unsuspension's result: the reply, and the record as now signed on disk. */
export interface MarkResult { reply: Record<string, unknown>; suspensions: Suspensions }

export interface RegistryContext {
  models: number;
  suspensions: Suspensions;
  lastChange: string | null;
  reason: string | null;
  /** Writes in arrival order; the head is the one running (promoting or removing). */
  queue: RegistryWrite[];
}

type RegistryWrite =
  /** `promote` carries the quarantine's request as is; the effect checks and copies it. */
  | ({ type: 'registry.promote'; promote: { name: string } & Record<string, unknown> } & Request)
  | ({ type: 'registry.remove'; name: string; who: RemovedBy } & Request)
  /** The incident actor's containment: a model (name or SHA-256) refused at load until an operator clears it. */
  | ({ type: 'registry.suspend'; model: string; incidentId: string; reason: string } & Request)
  /** The signed operator command that clears a suspension (the key id is recorded). */
  | ({ type: 'registry.unsuspend'; model: string; keyId: string } & Request);

export type RegistryEvent = RegistryWrite | ({ type: 'registry.read'; read: RegistryRead } & Request);

/** A promotion's or removal's result: the entry and how many models the signed manifest now lists. */
export interface WriteResult { entry: { name: string } & Record<string, unknown>; models: number }

const tampered = (e: unknown) => asFailure(e).code === ErrorCode.REGISTRY_TAMPERED;

const errorOf = (event: unknown) => asFailure((event as { error?: unknown }).error);
const actorIdOf = (event: unknown) => (event as { actorId: string }).actorId;
const next = (c: RegistryContext) => c.queue[0];
const headId = (c: RegistryContext) => next(c)?.requestId ?? '';

/**
 * A read child's answer, by its id (the requestId). Partial wildcards are typed loosely by xstate, hence the cast; a
 * write's invoke is answered by its own state, whose onDone/onError are matched before these.
 */
const childAnswers = {
  'xstate.done.actor.*': { actions: emit(({ event }: { event: unknown }) => replyOk(actorIdOf(event), (event as { output: unknown }).output)) },
  'xstate.error.actor.*': [
    { guard: 'tampered', target: '.tampered', actions: [assign({ reason: ({ event }: { event: unknown }) => errorOf(event).message }), emit(({ event }: { event: unknown }) => replyError(actorIdOf(event), errorOf(event))), 'reportTampered'] },
    { actions: emit(({ event }: { event: unknown }) => replyError(actorIdOf(event), errorOf(event))) },
  ],
} as unknown as Record<never, never>;

export const registryMachine = setup({
  types: {} as { context: RegistryContext; events: RegistryEvent; emitted: Reply; input: { suspensions?: Suspensions } | undefined },
  actors: {
    /** How many models the signed manifest lists (its signature checked). */
    count: fromPromise<number>(notProvided('count')),
    /** Copies a scanned artifact in read-only, signs the new manifest, records `promoted`. */
    promote: fromPromise<WriteResult, Record<string, unknown>>(notProvided('promote')),
    /** Removes a model, signs the new manifest, records `removed`. */
    remove: fromPromise<WriteResult, { name: string; who: RemovedBy }>(notProvided('remove')),
    /** list, get or verify (re-hash against the signed manifest). */
    read: fromPromise<unknown, RegistryReadInput>(notProvided('read')),
    /** Adds a suspension, signs the record, records `suspended`. */
    suspend: fromPromise<MarkResult, { model: string; incidentId: string; reason: string; suspensions: Suspensions }>(notProvided('suspend')),
    /** Clears a suspension, signs the record, records `unsuspended`. */
    unsuspend: fromPromise<MarkResult, { model: string; keyId: string; suspensions: Suspensions }>(notProvided('unsuspend')),
  },
  actions: {
    /** A manifest that fails its signature is an incident: logged loudly. */
    reportTampered: notProvided('reportTampered'),
  },
  guards: {
    tampered: ({ event }) => tampered((event as { error?: unknown }).error),
    promoteNext: ({ context }) => next(context)?.type === 'registry.promote',
    removeNext: ({ context }) => next(context)?.type === 'registry.remove',
    suspendNext: ({ context }) => next(context)?.type === 'registry.suspend',
    unsuspendNext: ({ context }) => next(context)?.type === 'registry.unsuspend',
  },
}).createMachine({
  id: 'registry',
  initial: 'opening',
  context: ({ input }) => ({ models: 0, lastChange: null, reason: null, queue: [], suspensions: input?.suspensions ?? { records: [], seq: 0, untrusted: null } }),
  on: {
    'registry.read': { actions: spawnChild('read', { id: ({ event }) => event.requestId, input: ({ context, event }) => { assertEvent(event, 'registry.read'); return { ...event.read, suspensions: context.suspensions }; } }) },
    ...childAnswers,
    // One write at a time (both rewrite the signed manifest): queued, and `serving` takes up the head.
    'registry.promote': { actions: assign({ queue: ({ context, event }) => [...context.queue, event] }) },
    'registry.remove': { actions: assign({ queue: ({ context, event }) => [...context.queue, event] }) },
    'registry.suspend': { actions: assign({ queue: ({ context, event }) => [...context.queue, event] }) },
    'registry.unsuspend': { actions: assign({ queue: ({ context, event }) => [...context.queue, event] }) },
  },
  states: {
    opening: {
      invoke: {
        id: 'count',
        src: 'count',
        onDone: { target: 'serving', actions: assign({ models: ({ event }) => event.output, lastChange: 'opened' }) },
        onError: { target: 'tampered', actions: [assign({ reason: ({ event }) => asFailure(event.error).message }), 'reportTampered'] },
      },
    },
    serving: {
      always: [
        { guard: 'promoteNext', target: 'promoting' }, { guard: 'removeNext', target: 'removing' },
        { guard: 'suspendNext', target: 'suspending' }, { guard: 'unsuspendNext', target: 'unsuspending' },
      ],
    },
    promoting: {
      invoke: {
        id: 'promote',
        src: 'promote',
        input: ({ context }) => { const w = next(context); return w?.type === 'registry.promote' ? w.promote : {}; },
        onDone: {
          target: 'serving',
          actions: [
            assign({ models: ({ event }) => event.output.models, lastChange: ({ event }) => `promoted ${event.output.entry.name}` }),
            emit(({ context, event }) => replyOk(headId(context), event.output.entry)),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
        onError: [
          { guard: 'tampered', target: 'tampered', actions: [assign({ reason: ({ event }) => asFailure(event.error).message }), emit(({ context, event }) => replyError(headId(context), errorOf(event))), assign({ queue: ({ context }) => context.queue.slice(1) }), 'reportTampered'] },
          { target: 'serving', actions: [emit(({ context, event }) => replyError(headId(context), errorOf(event))), assign({ queue: ({ context }) => context.queue.slice(1) })] },
        ],
      },
    },
    removing: {
      invoke: {
        id: 'remove',
        src: 'remove',
        input: ({ context }) => { const w = next(context); return w?.type === 'registry.remove' ? { name: w.name, who: w.who } : { name: '', who: { by: 'operator', keyId: '' } }; },
        onDone: {
          target: 'serving',
          actions: [
            assign({ models: ({ event }) => event.output.models, lastChange: ({ event }) => `removed ${event.output.entry.name}` }),
            emit(({ context, event }) => replyOk(headId(context), event.output.entry)),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
        onError: [
          { guard: 'tampered', target: 'tampered', actions: [assign({ reason: ({ event }) => asFailure(event.error).message }), emit(({ context, event }) => replyError(headId(context), errorOf(event))), assign({ queue: ({ context }) => context.queue.slice(1) }), 'reportTampered'] },
          { target: 'serving', actions: [emit(({ context, event }) => replyError(headId(context), errorOf(event))), assign({ queue: ({ context }) => context.queue.slice(1) })] },
        ],
      },
    },
    suspending: {
      invoke: {
        id: 'suspend',
        src: 'suspend',
        input: ({ context }) => {
          const w = next(context);
          return w?.type === 'registry.suspend' ? { model: w.model, incidentId: w.incidentId, reason: w.reason, suspensions: context.suspensions } : { model: '', incidentId: '', reason: '', suspensions: context.suspensions };
        },
        onDone: {
          target: 'serving',
          actions: [
            assign({ suspensions: ({ event }) => event.output.suspensions, lastChange: ({ event }) => `suspended ${String(event.output.reply['sha256'] ?? '').slice(0, 16)}` }),
            emit(({ context, event }) => replyOk(headId(context), event.output.reply)),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
        onError: { target: 'serving', actions: [emit(({ context, event }) => replyError(headId(context), errorOf(event))), assign({ queue: ({ context }) => context.queue.slice(1) })] },
      },
    },
    unsuspending: {
      invoke: {
        id: 'unsuspend',
        src: 'unsuspend',
        input: ({ context }) => {
          const w = next(context);
          return w?.type === 'registry.unsuspend' ? { model: w.model, keyId: w.keyId, suspensions: context.suspensions } : { model: '', keyId: '', suspensions: context.suspensions };
        },
        onDone: {
          target: 'serving',
          actions: [
            assign({ suspensions: ({ event }) => event.output.suspensions, lastChange: ({ event }) => `unsuspended ${String(event.output.reply['sha256'] ?? '').slice(0, 16)}` }),
            emit(({ context, event }) => replyOk(headId(context), event.output.reply)),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
        onError: { target: 'serving', actions: [emit(({ context, event }) => replyError(headId(context), errorOf(event))), assign({ queue: ({ context }) => context.queue.slice(1) })] },
      },
    },
    // A manifest whose signature fails is not trusted again until an operator repairs it and restarts.
    tampered: {
      // Writes queued behind the one that found the tampering are refused too.
      entry: [enqueueActions(({ context, enqueue }) => { for (const w of context.queue) enqueue.emit(replyError(w.requestId, refusal(context))); }), assign({ queue: [] })],
      on: {
        'registry.read': { actions: emit(({ context, event }) => replyError(event.requestId, refusal(context))) },
        'registry.promote': { actions: emit(({ context, event }) => replyError(event.requestId, refusal(context))) },
        'registry.remove': { actions: emit(({ context, event }) => replyError(event.requestId, refusal(context))) },
        'registry.suspend': { actions: emit(({ context, event }) => replyError(event.requestId, refusal(context))) },
        'registry.unsuspend': { actions: emit(({ context, event }) => replyError(event.requestId, refusal(context))) },
      },
    },
  },
});

function refusal(c: RegistryContext) {
  return { code: ErrorCode.REGISTRY_TAMPERED, message: `registry manifest failed verification: ${c.reason ?? 'unknown'}` };
}
