// The policy engine's life: serving one policy version; a reload loads the file and swaps it only if valid.
import { assign, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';

export type ReloadResult = { ok: true; digest: string; previous: string } | { ok: false; error: string; kept: string };

export interface PolicyContext {
  digest: string;
  reloads: number;
  lastReload: ReloadResult | null;
}

export type PolicyEvent = { type: 'policy.reload' } | { type: 'policy.loaded'; digest: string };

export const policyMachine = setup({
  types: {} as { context: PolicyContext; events: PolicyEvent },
  actors: {
    // Resolves with the outcome; a bad file is an outcome ({ ok: false }), not a failure of the machine.
    loadPolicy: fromPromise<ReloadResult>(notProvided('loadPolicy')),
  },
  actions: {
    reportReload: notProvided('reportReload'),
  },
}).createMachine({
  id: 'policy',
  initial: 'serving',
  context: { digest: '', reloads: 0, lastReload: null },
  // The first load happens before the machine starts; the actor reports its digest.
  on: { 'policy.loaded': { actions: assign({ digest: ({ event }) => event.digest }) } },
  states: {
    serving: { on: { 'policy.reload': 'reloading' } },
    reloading: {
      invoke: {
        id: 'loadPolicy',
        src: 'loadPolicy',
        onDone: {
          target: 'serving',
          actions: [
            assign({
              lastReload: ({ event }) => event.output,
              digest: ({ context, event }) => (event.output.ok ? event.output.digest : context.digest),
              reloads: ({ context }) => context.reloads + 1,
            }),
            'reportReload',
          ],
        },
        onError: {
          target: 'serving',
          actions: [
            assign({
              lastReload: ({ context, event }) => ({ ok: false as const, error: String((event.error as Error)?.message ?? event.error), kept: context.digest }),
              reloads: ({ context }) => context.reloads + 1,
            }),
            'reportReload',
          ],
        },
      },
    },
  },
});
