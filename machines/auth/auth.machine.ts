// The auth actor's life: serving ⇄ checking (one passphrase check at a time, the rest queued, through the login throttle held in the context).
import { assign, emit, fromPromise, setup } from 'xstate';
import { ErrorCode } from '../../common/errors.js';
import { notProvided } from '../not-provided.js';
import { replyError, replyOk, type Failure, type Reply, type Request } from '../request.js';

/** A passphrase check waiting its turn: `attempt` is the actor's effect (ask the vault), run only inside `checking`. */
export interface Check extends Request { client: string; attempt: () => Promise<unknown> }

/** What a check ends with: the throttle state after it, and the attempt's answer or refusal. */
export type CheckOutcome = { throttle: unknown; failures: number } & ({ ok: true; data: unknown } | { ok: false; error: Failure });

export interface AuthContext {
  sessions: number;
  failures: number;
  /** The login throttle (per-client ladders and the global window); private, persisted by the check effect. */
  throttle: unknown;
  /** The session store, device keys and policy the actor opened at start; private. */
  deps: unknown;
  /** Checks in arrival order; the head is the one running. */
  queue: Check[];
}

export interface AuthInput { throttle: unknown; failures: number; deps: unknown }

export type AuthEvent =
  | { type: 'auth.sessions'; sessions: number }
  | ({ type: 'auth.check'; client: string; attempt: () => Promise<unknown> } & Request)
  /** A throttle state written outside a check (none today; kept for a reset by the operator). */
  | { type: 'auth.throttle'; throttle: unknown; failures: number }
  /** The actor's resources after a policy reload (the new sign-in limits); the next check uses them. */
  | { type: 'auth.deps'; deps: unknown };

export const authMachine = setup({
  types: {} as { context: AuthContext; input: AuthInput; events: AuthEvent; emitted: Reply },
  actors: {
    /**
     * Runs the head check through the throttle: refused early when too soon; a failure recorded (and persisted,
     * and evented) before the answer. Never rejects: a refusal is an outcome.
     */
    check: fromPromise<CheckOutcome, { check: Check; throttle: unknown; deps: unknown }>(notProvided('check')),
  },
  guards: {
    queued: ({ context }) => context.queue.length > 0,
  },
}).createMachine({
  id: 'auth',
  initial: 'serving',
  context: ({ input }) => ({ sessions: 0, failures: input.failures, throttle: input.throttle, deps: input.deps, queue: [] }),
  on: {
    'auth.sessions': { actions: assign({ sessions: ({ event }) => event.sessions }) },
    'auth.deps': { actions: assign({ deps: ({ event }) => event.deps }) },
    'auth.throttle': { actions: assign({ throttle: ({ event }) => event.throttle, failures: ({ event }) => event.failures }) },
    // One check at a time: parallel guesses would all pass the throttle before the first fails.
    'auth.check': { actions: assign({ queue: ({ context, event }) => [...context.queue, { requestId: event.requestId, client: event.client, attempt: event.attempt }] }) },
  },
  states: {
    serving: { always: { guard: 'queued', target: 'checking' } },
    checking: {
      invoke: {
        id: 'check',
        src: 'check',
        input: ({ context }) => ({ check: context.queue[0]!, throttle: context.throttle, deps: context.deps }),
        onDone: {
          target: 'serving',
          actions: [
            assign({ throttle: ({ event }) => event.output.throttle, failures: ({ event }) => event.output.failures }),
            emit(({ context, event }) => (event.output.ok
              ? replyOk(context.queue[0]?.requestId ?? '', event.output.data)
              : replyError(context.queue[0]?.requestId ?? '', event.output.error))),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
        // The effect resolves even on refusals; a rejection is a bug, answered as such, and the throttle stays.
        onError: {
          target: 'serving',
          actions: [
            emit(({ context, event }) => replyError(context.queue[0]?.requestId ?? '', { code: ErrorCode.INTERNAL, message: String((event.error as Error)?.message ?? event.error) })),
            assign({ queue: ({ context }) => context.queue.slice(1) }),
          ],
        },
      },
    },
  },
});
