// The airlock's life: disabled (every request refused) or enabled, as the current policy says.
import { assign, setup } from 'xstate';

export interface AirlockContext {
  policyDigest: string;
  requests: number;
  denied: number;
}

export type AirlockEvent =
  | { type: 'airlock.policy'; enabled: boolean; digest: string }
  | { type: 'airlock.request'; allowed: boolean };

export const airlockMachine = setup({
  types: {} as { context: AirlockContext; events: AirlockEvent },
  guards: {
    enables: ({ event }) => event.type === 'airlock.policy' && event.enabled,
  },
}).createMachine({
  id: 'airlock',
  initial: 'disabled',
  context: { policyDigest: '', requests: 0, denied: 0 },
  on: {
    'airlock.request': {
      actions: assign({
        requests: ({ context }) => context.requests + 1,
        denied: ({ context, event }) => context.denied + (event.allowed ? 0 : 1),
      }),
    },
  },
  states: {
    disabled: {
      on: {
        'airlock.policy': [
          { guard: 'enables', target: 'enabled', actions: assign({ policyDigest: ({ event }) => event.digest }) },
          { actions: assign({ policyDigest: ({ event }) => event.digest }) },
        ],
      },
    },
    enabled: {
      on: {
        'airlock.policy': [
          { guard: 'enables', actions: assign({ policyDigest: ({ event }) => event.digest }) },
          { target: 'disabled', actions: assign({ policyDigest: ({ event }) => event.digest }) },
        ],
      },
    },
  },
});
