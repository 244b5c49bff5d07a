// The audit actor's life: following the tap, verifying the chain on schedule or on demand, or broken.
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';

/** A verification result; `at` is stamped by the verifier, so the machine needs no clock. */
export type ChainVerdict =
  | { ok: true; records: number; head: string; at: number; trigger?: string }
  | { ok: false; records: number; brokenAt: number; line: number; reason: string; expected?: string; found?: string; at: number; trigger?: string };

export interface AuditContext {
  records: number;
  lastVerdict: ChainVerdict | null;
  /** What the file watch saw change under the writer, until the verification it started reports (its evidence). */
  tamper: string | null;
  /** The open chain (writer, HMAC key, anchor) the actor opened and checked before start; private, never published. */
  store: unknown;
}

export interface AuditInput { store: unknown; records: number }

export type AuditEvent =
  | { type: 'audit.verify' }
  | { type: 'audit.appended'; records: number }
  /** The chain file changed under the writer (deleted, replaced, edited): verify now, not at the next interval. */
  | { type: 'audit.tampered'; what: string };

export const auditMachine = setup({
  types: {} as { context: AuditContext; input: AuditInput; events: AuditEvent },
  actors: {
    /** `trigger`: the change that started this verification, carried into its verdict as evidence. */
    verifyChain: fromPromise<ChainVerdict, { store: unknown; trigger: string | null }>(notProvided('verifyChain')),
    /** Follows the tap streams into the chain and watches the chain's folder: sends audit.appended and audit.tampered. */
    tap: fromCallback<AuditEvent, { store: unknown }>(notProvided('tap')),
  },
  actions: {
    reportBroken: notProvided('reportBroken'),
    reportVerified: notProvided('reportVerified'),
  },
  delays: {
    verifyInterval: 5 * 60_000,
  },
  guards: {
    chainOk: ({ event }) => (event as unknown as { output: ChainVerdict }).output.ok,
  },
}).createMachine({
  id: 'audit',
  initial: 'verifying',
  context: ({ input }) => ({ records: input.records, lastVerdict: null, tamper: null, store: input.store }),
  invoke: { id: 'tap', src: 'tap', input: ({ context }) => ({ store: context.store }) },
  on: {
    'audit.appended': { actions: assign({ records: ({ event }) => event.records }) },
    // Also from `verifying`: a verification already running may have read the chain before the change.
    'audit.tampered': { target: '.verifying', reenter: true, actions: assign({ tamper: ({ event }) => event.what }) },
  },
  states: {
    following: {
      on: { 'audit.verify': 'verifying' },
      after: { verifyInterval: 'verifying' },
    },
    verifying: {
      invoke: {
        id: 'verifyChain',
        src: 'verifyChain',
        input: ({ context }) => ({ store: context.store, trigger: context.tamper }),
        onDone: [
          {
            guard: 'chainOk',
            target: 'following',
            actions: [assign({ lastVerdict: ({ event }) => event.output, tamper: null }), 'reportVerified'],
          },
          {
            target: 'broken',
            actions: [assign({ lastVerdict: ({ event }) => event.output, tamper: null }), 'reportBroken'],
          },
        ],
        onError: {
          target: 'broken',
          actions: [
            assign({
              lastVerdict: ({ context, event }) => ({ ok: false as const, records: context.records, brokenAt: 0, line: 0, at: 0, reason: `verification failed: ${String((event.error as Error)?.message ?? event.error)}` }),
            }),
            'reportBroken',
          ],
        },
      },
    },
    broken: {
      on: { 'audit.verify': 'verifying' },
      after: { verifyInterval: 'verifying' },
    },
  },
});
