// The audit actor's life: following the tap, verifying the chain on schedule or on demand, or broken.
import { assign, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';

/** A verification result; `at` is stamped by the verifier, so the machine needs no clock. */
export type ChainVerdict =
  | { ok: true; records: number; head: string; at: number }
  | { ok: false; records: number; brokenAt: number; line: number; reason: string; expected?: string; found?: string; at: number };

export interface AuditContext {
  records: number;
  lastVerdict: ChainVerdict | null;
}

export type AuditEvent =
  | { type: 'audit.verify' }
  | { type: 'audit.appended'; records: number }
  /** The chain file changed under the writer (deleted, replaced, edited): verify now, not at the next interval. */
  | { type: 'audit.tampered'; what: string };

export const auditMachine = setup({
  types: {} as { context: AuditContext; events: AuditEvent },
  actors: {
    verifyChain: fromPromise<ChainVerdict>(notProvided('verifyChain')),
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
  context: { records: 0, lastVerdict: null },
  on: {
    'audit.appended': { actions: assign({ records: ({ event }) => event.records }) },
    // Also from `verifying`: a verification already running may have read the chain before the change.
    'audit.tampered': { target: '.verifying', reenter: true },
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
        onDone: [
          {
            guard: 'chainOk',
            target: 'following',
            actions: [assign({ lastVerdict: ({ event }) => event.output }), 'reportVerified'],
          },
          {
            target: 'broken',
            actions: [assign({ lastVerdict: ({ event }) => event.output }), 'reportBroken'],
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
