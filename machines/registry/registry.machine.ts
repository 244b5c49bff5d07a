// The registry actor's life: serving, or refusing everything once its signed manifest fails to verify.
import { assign, setup } from 'xstate';

export interface RegistryContext {
  models: number;
  lastChange: string | null;
  reason: string | null;
}

export type RegistryEvent =
  | { type: 'registry.changed'; models: number; change: string }
  | { type: 'registry.tampered'; reason: string };

export const registryMachine = setup({
  types: {} as { context: RegistryContext; events: RegistryEvent },
}).createMachine({
  id: 'registry',
  initial: 'serving',
  context: { models: 0, lastChange: null, reason: null },
  states: {
    serving: {
      on: {
        'registry.changed': { actions: assign({ models: ({ event }) => event.models, lastChange: ({ event }) => event.change }) },
        'registry.tampered': { target: 'tampered', actions: assign({ reason: ({ event }) => event.reason }) },
      },
    },
    // A manifest whose signature fails is not trusted again until an operator repairs it and restarts.
    tampered: {},
  },
});
